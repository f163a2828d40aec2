// Fails when src/api/schema.d.ts is not what the server's OpenAPI document generates today, so
// the app's API types cannot drift from the API silently. `make web-types` regenerates them.
// Usage: node scripts/check-types.mjs <openapi.json>
import { readFileSync } from 'node:fs'
import openapiTS, { astToString } from 'openapi-typescript'

const spec = process.argv[2]
if (!spec) {
  console.error('usage: node scripts/check-types.mjs <openapi.json>')
  process.exit(2)
}
const generated = astToString(await openapiTS(JSON.parse(readFileSync(spec, 'utf8'))))
const committed = readFileSync(new URL('../src/api/schema.d.ts', import.meta.url), 'utf8')
const normalise = (s) => s.replace(/^\/\*\*[\s\S]*?\*\/\s*/, '').trim()
if (normalise(generated) !== normalise(committed)) {
  console.error(
    'web/src/api/schema.d.ts is stale: the API changed since the types were generated.\n' +
      'Run `make web-types` and commit the result.',
  )
  process.exit(1)
}
console.log('web/src/api/schema.d.ts matches the OpenAPI document')
