// Writes src/api/schema.d.ts from the server's OpenAPI document.
// Usage: node scripts/gen-types.mjs <openapi.json>   (`make web-types` passes the document)
import { readFileSync, writeFileSync } from 'node:fs'
import openapiTS, { astToString } from 'openapi-typescript'

const spec = process.argv[2]
if (!spec) {
  console.error('usage: node scripts/gen-types.mjs <openapi.json>')
  process.exit(2)
}
const header =
  '/** Generated from the API\'s OpenAPI document by `make web-types`: do not edit. */\n\n'
const body = astToString(await openapiTS(JSON.parse(readFileSync(spec, 'utf8'))))
writeFileSync(new URL('../src/api/schema.d.ts', import.meta.url), header + body)
console.log('wrote web/src/api/schema.d.ts')
