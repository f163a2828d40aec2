// Copies Swagger UI's bundle and stylesheet next to the API documentation page in dist/.
import { copyFileSync, mkdirSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'

const require = createRequire(import.meta.url)
const from = dirname(require.resolve('swagger-ui-dist/package.json'))
const to = new URL('../dist/api-docs/', import.meta.url).pathname
mkdirSync(to, { recursive: true })
for (const file of ['swagger-ui-bundle.js', 'swagger-ui.css']) copyFileSync(join(from, file), join(to, file))
