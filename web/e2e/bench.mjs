// `make bench`'s web figures, in Debian's Chromium against a release `docuvault serve` that
// bench/bench.py started with 1,000 documents for the bench user (BASE_URL, LOGIN, PASSWORD,
// TOKEN = an access token for the reference request, DIST = web/dist). Prints one JSON line:
//   first_load_bytes      JavaScript + CSS transferred to show the sign-in page and then the
//                         document list in a fresh browser (what was on the wire: brotli)
//   first_load_gzip_bytes the same files' gzip sizes (the figure the target is set in)
//   render_ms             median of 7: navigation to `/` until the first row is shown (the app
//                         starts, resumes the sign-in from the cookie, fetches the first page)
//   api_ms                median of 7: the same first page fetched alone (the reference)
import { statSync } from 'node:fs'
import { chromium } from 'playwright-core'

const { BASE_URL: BASE, LOGIN, PASSWORD, TOKEN, DIST } = process.env
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
})
try {
  const context = await browser.newContext()
  const page = await context.newPage()
  const assets = new Map()
  page.on('requestfinished', async (req) => {
    const path = new URL(req.url()).pathname
    if (/\.(js|css)$/.test(path) && !assets.has(path)) {
      assets.set(path, (await req.sizes()).responseBodySize)
    }
  })
  await page.goto(`${BASE}/sign-in`)
  await page.getByLabel('Username or email').fill(LOGIN)
  await page.getByLabel('Password', { exact: true }).fill(PASSWORD)
  await page.getByRole('button', { name: 'Sign in' }).click()
  await page.locator('[data-testid^="doc-"]').first().waitFor({ timeout: 30_000 })
  // (Not "networkidle": the event stream stays open.) Let the last size reports arrive.
  await page.waitForTimeout(500)
  const firstLoad = [...assets.values()].reduce((a, b) => a + b, 0)
  const gzip = [...assets.keys()].reduce((a, p) => a + statSync(`${DIST}${p}.gz`).size, 0)

  const render = []
  const api = []
  for (let i = 0; i < 7; i++) {
    let t = performance.now()
    await page.goto(`${BASE}/`)
    await page.locator('[data-testid^="doc-"]').first().waitFor({ timeout: 30_000 })
    render.push(performance.now() - t)
    t = performance.now()
    const resp = await fetch(`${BASE}/api/documents?limit=100`, { headers: { Authorization: `Bearer ${TOKEN}` } })
    await resp.json()
    api.push(performance.now() - t)
  }
  console.log(
    JSON.stringify({
      first_load_bytes: firstLoad,
      first_load_gzip_bytes: gzip,
      assets: assets.size,
      render_ms: median(render),
      api_ms: median(api),
    }),
  )
} finally {
  await browser.close()
}
