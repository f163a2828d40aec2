// End to end in real Chromium (Debian's, driven by playwright-core) against a real `docuvault
// serve --with-worker` on the local stack, started by bench/e2e.py, which passes:
//   BASE_URL   the server           ADMIN_LOGIN, ADMIN_PASSWORD   an admin made with the CLI
//   OUT_DIR    screenshots go here  CHROMIUM                      the browser (/usr/bin/chromium)
//   TOKEN_TTL  the server's ACCESS_TOKEN_TTL_SECS (short, so a token expires during the run)
//   MAIL_DIR   the Maildir where the stack's SMTP server keeps what the server sends
// Every main page is checked with axe-core (no serious or critical violation), screenshotted at
// desktop and phone size, and watched for CSP violations and uncaught errors.
import { execFileSync } from 'node:child_process'
import { createHash, createHmac } from 'node:crypto'
import { crc32, deflateRawSync } from 'node:zlib'
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { chromium } from 'playwright-core'

const require = createRequire(import.meta.url)
const AXE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8')
const BASE = process.env.BASE_URL
const OUT = process.env.OUT_DIR
const TTL = Number(process.env.TOKEN_TTL ?? '20')
mkdirSync(OUT, { recursive: true })

const problems = []
let step = 'start'
function log(msg) {
  console.log(`[e2e] ${msg}`)
}
function check(ok, what) {
  if (!ok) throw new Error(`${step}: ${what}`)
}

// --- helpers -------------------------------------------------------------------------------

/** A one-page PDF whose text pdftotext reads. */
/** A PDF with one page per text; `script` adds an opening action in JavaScript. */
function pdf(texts, script) {
  const pages = Array.isArray(texts) ? texts : [texts]
  const font = 3 + 2 * pages.length
  const action = script ? ` /OpenAction << /S /JavaScript /JS (${script}) >>` : ''
  const objects = [
    `<< /Type /Catalog /Pages 2 0 R${action} >>`,
    `<< /Type /Pages /Kids [${pages.map((_, i) => `${3 + 2 * i} 0 R`).join(' ')}] /Count ${pages.length} >>`,
  ]
  pages.forEach((text, i) => {
    const stream = `BT /F1 14 Tf 72 720 Td (${text}) Tj ET`
    objects.push(
      `<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents ${4 + 2 * i} 0 R /Resources << /Font << /F1 ${font} 0 R >> >> >>`,
      `<< /Length ${stream.length} >>\nstream\n${stream}\nendstream`,
    )
  })
  objects.push('<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>')
  let out = '%PDF-1.4\n'
  const offsets = []
  objects.forEach((body, i) => {
    offsets.push(out.length)
    out += `${i + 1} 0 obj\n${body}\nendobj\n`
  })
  const xref = out.length
  out += `xref\n0 ${objects.length + 1}\n0000000000 65535 f \n`
  for (const o of offsets) out += `${String(o).padStart(10, '0')} 00000 n \n`
  out += `trailer\n<< /Size ${objects.length + 1} /Root 1 0 R >>\nstartxref\n${xref}\n%%EOF\n`
  return Buffer.from(out, 'latin1')
}

/** A ZIP archive of `entries` ([name, Buffer]), deflated, as office files are. */
function zipOf(entries) {
  const locals = []
  const centrals = []
  let offset = 0
  for (const [name, data] of entries) {
    const nameBuf = Buffer.from(name)
    const packed = deflateRawSync(data)
    const crc = crc32(data)
    const local = Buffer.alloc(30)
    local.writeUInt32LE(0x04034b50, 0)
    local.writeUInt16LE(20, 4)
    local.writeUInt16LE(8, 8)
    local.writeUInt32LE(crc, 14)
    local.writeUInt32LE(packed.length, 18)
    local.writeUInt32LE(data.length, 22)
    local.writeUInt16LE(nameBuf.length, 26)
    const central = Buffer.alloc(46)
    central.writeUInt32LE(0x02014b50, 0)
    central.writeUInt16LE(20, 4)
    central.writeUInt16LE(20, 6)
    central.writeUInt16LE(8, 10)
    central.writeUInt32LE(crc, 16)
    central.writeUInt32LE(packed.length, 20)
    central.writeUInt32LE(data.length, 24)
    central.writeUInt16LE(nameBuf.length, 28)
    central.writeUInt32LE(offset, 42)
    locals.push(local, nameBuf, packed)
    centrals.push(central, nameBuf)
    offset += 30 + nameBuf.length + packed.length
  }
  const directory = Buffer.concat(centrals)
  const end = Buffer.alloc(22)
  end.writeUInt32LE(0x06054b50, 0)
  end.writeUInt16LE(entries.length, 8)
  end.writeUInt16LE(entries.length, 10)
  end.writeUInt32LE(directory.length, 12)
  end.writeUInt32LE(offset, 16)
  return Buffer.concat([...locals, directory, end])
}

/** A Word document with one paragraph per line. */
function docx(lines) {
  const w = 'http://schemas.openxmlformats.org/wordprocessingml/2006/main'
  const body = lines.map((l) => `<w:p><w:r><w:t xml:space="preserve">${l}</w:t></w:r></w:p>`).join('')
  return zipOf([
    ['[Content_Types].xml', Buffer.from('<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="xml" ContentType="application/xml"/><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>')],
    ['_rels/.rels', Buffer.from('<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"/>')],
    ['word/document.xml', Buffer.from(`<?xml version="1.0"?><w:document xmlns:w="${w}"><w:body>${body}</w:body></w:document>`)],
  ])
}

function base32(s) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'
  let bits = ''
  for (const c of s.replace(/=+$/, '').toUpperCase()) bits += alphabet.indexOf(c).toString(2).padStart(5, '0')
  const bytes = []
  for (let i = 0; i + 8 <= bits.length; i += 8) bytes.push(parseInt(bits.slice(i, i + 8), 2))
  return Buffer.from(bytes)
}

function totp(secret, at = Date.now()) {
  const counter = Buffer.alloc(8)
  counter.writeBigUInt64BE(BigInt(Math.floor(at / 1000 / 30)))
  const mac = createHmac('sha1', base32(secret)).update(counter).digest()
  const o = mac[mac.length - 1] & 0xf
  const n = (mac.readUInt32BE(o) & 0x7fffffff) % 1_000_000
  return String(n).padStart(6, '0')
}

/** Waits until a new 30 s TOTP step begins (the server accepts each step's code once). */
async function nextTotpStep() {
  const left = 30_000 - (Date.now() % 30_000)
  await new Promise((r) => setTimeout(r, left + 200))
}

/** The password-reset link mailed to `to` (waits up to 10 s for the message). */
async function resetLink(to) {
  for (let i = 0; i < 100; i++) {
    for (const name of readdirSync(`${process.env.MAIL_DIR}/new`)) {
      const text = readFileSync(`${process.env.MAIL_DIR}/new/${name}`, 'utf8')
      if (!text.includes(`X-RcptTo: ${to}`)) continue
      const plain = text.replace(/=\r?\n/g, '').replace(/=3D/g, '=')
      const link = plain.match(/https?:\/\/\S+\/reset-password#token=[A-Za-z0-9_-]+/)
      if (link) return link[0]
    }
    await new Promise((r) => setTimeout(r, 100))
  }
  throw new Error(`no reset mail for ${to}`)
}

function watch(page, name) {
  page.on('console', (m) => {
    if (m.type() === 'error' && /Content Security Policy|Refused to/i.test(m.text())) {
      problems.push(`${name}: CSP violation: ${m.text()}`)
    }
  })
  page.on('pageerror', (e) => problems.push(`${name}: uncaught error: ${e.message}`))
}

async function audit(page, name) {
  await page.evaluate(`${AXE};0`)
  const result = await page.evaluate(() =>
    // eslint-disable-next-line no-undef
    axe.run(document, { resultTypes: ['violations'] }),
  )
  const bad = result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical')
  for (const v of bad) problems.push(`${name}: axe ${v.impact} ${v.id}: ${v.help} (${v.nodes.length} nodes)`)
  log(`axe ${name}: ${result.violations.length} violations, ${bad.length} serious or critical`)
}

async function shoot(page, name) {
  for (const [label, size] of [
    ['desktop', { width: 1280, height: 800 }],
    ['phone', { width: 390, height: 844 }],
  ]) {
    await page.setViewportSize(size)
    await page.screenshot({ path: `${OUT}/${name}-${label}.png`, fullPage: true })
  }
  await page.setViewportSize({ width: 1280, height: 800 })
}

async function mainPage(page, name) {
  await audit(page, name)
  await shoot(page, name)
}

/** Adds a topic on the Topics page (which must be open). */
async function addTopic(page, name, description) {
  await page.getByLabel('Name').first().fill(name)
  await page.getByLabel('Description').first().fill(description)
  await page.getByRole('button', { name: 'Add topic' }).click()
  await page.getByTestId(`topic-${name}`).waitFor()
}

async function signIn(page, login, password, code) {
  await page.goto(`${BASE}/sign-in`)
  await page.getByLabel('Username or email').fill(login)
  await page.getByLabel('Password', { exact: true }).fill(password)
  await page.getByRole('button', { name: 'Sign in' }).click()
  if (code) {
    const field = page.getByLabel('Code from your authenticator app (or a recovery code)')
    await field.waitFor()
    await field.fill(code())
    await page.getByRole('button', { name: 'Verify' }).click()
  }
  await page.getByRole('heading', { name: 'Documents' }).waitFor()
}

// --- the run -------------------------------------------------------------------------------

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  headless: true,
  args: [
    '--no-sandbox',
    '--disable-gpu',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--no-first-run',
  ],
})
let failed = false
try {
  const context = await browser.newContext({ acceptDownloads: true, viewport: { width: 1280, height: 800 } })
  context.setDefaultTimeout(30_000)
  const page = await context.newPage()
  watch(page, 'tab 1')
  // Dialogs the app opens (confirmations) are accepted; one a document opened would be a bug.
  const dialogs = []
  page.on('dialog', (d) => {
    dialogs.push(d.message())
    void d.accept()
  })

  step = 'sign-in page'
  await page.goto(`${BASE}/`)
  await page.waitForURL(/\/sign-in/)
  await mainPage(page, 'sign-in')

  step = 'register'
  const handle = `erin${Date.now() % 100000}`
  const password = 'a long and private passphrase 7'
  await page.getByRole('link', { name: 'Create an account' }).click()
  await page.getByRole('heading', { name: 'Create your account' }).waitFor()
  await page.getByLabel('Username', { exact: true }).fill(handle)
  await page.getByLabel('Email').fill(`${handle}@example.org`)
  await page.getByLabel('Password (at least 12 characters)').fill(password)
  await page.getByRole('button', { name: 'Create account' }).click()
  await page.getByRole('heading', { name: 'Documents' }).waitFor()
  log(`registered and signed in as ${handle}`)

  step = 'topics'
  await page.getByRole('link', { name: 'Topics' }).click()
  await page.getByRole('heading', { name: 'Topics' }).waitFor()
  for (const [name, description] of [
    ['Finance', 'invoices, payments, bank statements, tax, amount due'],
    ['Travel', 'flights, hotel bookings, boarding passes, itineraries'],
  ]) {
    await addTopic(page, name, description)
  }
  await mainPage(page, 'topics')

  step = 'upload'
  await page.getByRole('link', { name: 'Documents' }).click()
  await page.getByRole('heading', { name: 'Documents' }).waitFor()
  const invoice = pdf('Invoice 2026-114: payment of 240 EUR due, bank transfer, tax included')
  const ticket = Buffer.from('Flight booking LH 400 and hotel booking in Lisbon, boarding pass attached.\n')
  await page.locator('#file-input').setInputFiles([
    { name: 'invoice.pdf', mimeType: 'application/pdf', buffer: invoice },
    { name: 'trip.txt', mimeType: 'text/plain', buffer: ticket },
  ])
  for (const name of ['invoice.pdf', 'trip.txt']) {
    const row = page.getByTestId(`upload-${name}`)
    await row.locator('progress').waitFor()
    await row.getByText('uploaded').waitFor()
  }
  log('both uploads finished, progress shown')

  step = 'live status'
  // No reload from here: the rows change as the worker reports through the event stream.
  for (const [name, topic] of [
    ['invoice.pdf', 'Finance'],
    ['trip.txt', 'Travel'],
  ]) {
    const row = page.getByTestId(`doc-${name}`)
    await row.getByTestId('status').filter({ hasText: 'classified' }).waitFor({ timeout: 60_000 })
    await row.getByText(topic).waitFor()
  }
  log('both documents classified with their chips, without a reload')
  await page.reload()
  const thumb = page.getByTestId('doc-invoice.pdf').getByTestId('thumbnail')
  await thumb.waitFor()
  await page.waitForFunction((img) => img.complete && img.naturalWidth > 0, await thumb.elementHandle())
  const width = await thumb.evaluate((img) => img.naturalWidth)
  check(width > 100 && width <= 300, `the PDF's thumbnail loaded (${width} px wide)`)
  log(`the PDF's first-page thumbnail shows in the list (${width} px wide)`)
  await mainPage(page, 'documents')

  step = 'pdf viewer'
  const contract = pdf(['Rental contract, page one', 'Signatures on page two'], "app.alert\\('pwned'\\); window.alert\\('pwned'\\)")
  await page.locator('#file-input').setInputFiles([{ name: 'contract.pdf', mimeType: 'application/pdf', buffer: contract }])
  await page.getByTestId('doc-contract.pdf').getByTestId('status').filter({ hasText: 'classified' }).waitFor({ timeout: 60_000 })
  await page.getByRole('link', { name: 'contract.pdf' }).click()
  await page.getByTestId('pdf-page').filter({ hasText: 'Page 1 of 2' }).waitFor()
  const inked = () =>
    page.getByTestId('pdf-canvas').evaluate((c) => {
      const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data
      let dark = 0
      for (let i = 0; i < d.length; i += 4) if (d[i] < 128 && d[i + 3] > 0) dark++
      return dark
    })
  await page.waitForFunction(
    (c) => {
      const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data
      for (let i = 0; i < d.length; i += 4) if (d[i] < 128 && d[i + 3] > 0) return true
      return false
    },
    await page.getByTestId('pdf-canvas').elementHandle(),
  )
  const first = await inked()
  await page.getByRole('button', { name: 'Next page' }).click()
  await page.getByTestId('pdf-page').filter({ hasText: 'Page 2 of 2' }).waitFor()
  await page.waitForTimeout(500)
  const second = await inked()
  check(first > 0 && second > 0 && first !== second, `both pages drawn, differently (${first} and ${second} dark pixels)`)
  await mainPage(page, 'pdf-viewer')
  check(!dialogs.some((m) => m.includes('pwned')), `the PDF's JavaScript did not run (dialogs: ${dialogs})`)
  await page.getByRole('button', { name: 'Delete' }).click()
  await page.getByRole('heading', { name: 'Documents' }).waitFor()
  log(`a PDF with JavaScript shown in the app's viewer, page 1 and 2 drawn (${first} and ${second} dark pixels), its script never ran`)

  step = 'ocr'
  // A photographed receipt: text drawn on a canvas in the browser, turned a little.
  const receipt = Buffer.from(
    await page.evaluate(() => {
      const c = document.createElement('canvas')
      c.width = 1400
      c.height = 420
      const g = c.getContext('2d')
      g.fillStyle = '#fff'
      g.fillRect(0, 0, c.width, c.height)
      g.fillStyle = '#111'
      g.font = '52px sans-serif'
      g.rotate(0.012)
      ;['Receipt 7731 from Riverside Hardware', 'Paid by card, thank you'].forEach((line, i) => g.fillText(line, 60, 130 + i * 110))
      return c.toDataURL('image/png').split(',')[1]
    }),
    'base64',
  )
  await page.locator('#file-input').setInputFiles([{ name: 'receipt.png', mimeType: 'image/png', buffer: receipt }])
  await page.getByTestId('doc-receipt.png').getByTestId('status').filter({ hasText: 'classified' }).waitFor({ timeout: 60_000 })
  await page.reload()
  const photoThumb = page.getByTestId('doc-receipt.png').getByTestId('thumbnail')
  await photoThumb.waitFor()
  await page.waitForFunction((img) => img.complete && img.naturalWidth > 0, await photoThumb.elementHandle())
  check((await photoThumb.evaluate((img) => img.naturalWidth)) === 300, 'the photo is its own thumbnail, 300 px wide')
  await page.getByRole('link', { name: 'receipt.png' }).click()
  await page.getByTestId('ocr-note').filter({ hasText: 'Recognised by OCR (1 page)' }).waitFor()
  const recognised = await page.locator('pre.text').textContent()
  check(/Riverside/.test(recognised) && /7731/.test(recognised), `OCR read the receipt: ${JSON.stringify(recognised)}`)
  await page.getByTestId('preview').waitFor()
  await mainPage(page, 'ocr')
  await page.getByRole('button', { name: 'Delete' }).click()
  await page.getByRole('heading', { name: 'Documents' }).waitFor()
  log(`an image uploaded in the app was read by OCR and shown with its note: ${JSON.stringify(recognised.trim())}`)

  step = 'office document'
  const letter = docx(['Tenancy agreement for flat 4', 'Monthly rent 850 EUR, due on the first day of the month'])
  await page.locator('#file-input').setInputFiles([
    { name: 'tenancy.docx', mimeType: 'application/vnd.openxmlformats-officedocument.wordprocessingml.document', buffer: letter },
  ])
  await page.getByTestId('doc-tenancy.docx').getByTestId('status').filter({ hasText: 'classified' }).waitFor({ timeout: 60_000 })
  await page.getByRole('link', { name: 'tenancy.docx' }).click()
  await page.getByTestId('kind').filter({ hasText: 'Word document' }).waitFor()
  const read = await page.locator('pre.text').textContent()
  check(read.includes('Tenancy agreement for flat 4\nMonthly rent 850 EUR'), `the Word text was read: ${JSON.stringify(read)}`)
  await mainPage(page, 'office')
  await page.getByRole('button', { name: 'Delete' }).click()
  await page.getByRole('heading', { name: 'Documents' }).waitFor()
  log('a Word document uploaded in the app was read and shown with its kind')

  step = 'suggestions'
  // Two topics the classifier cannot tell apart: it files the document under neither and
  // offers both; one click files it and makes it an example.
  await page.getByRole('link', { name: 'Topics' }).click()
  for (const [name, description] of [
    ['Car', 'the car: insurance, repairs, fuel, registration'],
    ['Vehicle', 'the vehicle: insurance, repairs, fuel, registration'],
  ]) {
    await addTopic(page, name, description)
  }
  await page.getByRole('link', { name: 'Documents' }).click()
  await page.getByRole('heading', { name: 'Documents' }).waitFor()
  await page.locator('#file-input').setInputFiles([
    { name: 'garage.txt', mimeType: 'text/plain', buffer: Buffer.from('Brake pads replaced and engine oil changed at the garage.\n') },
  ])
  await page.getByTestId('doc-garage.txt').getByTestId('status').filter({ hasText: 'classified' }).waitFor({ timeout: 60_000 })
  await page.getByRole('link', { name: 'garage.txt' }).click()
  await page.getByTestId('suggestions').waitFor()
  await mainPage(page, 'suggestions')
  await page.getByTestId('suggestion-Car').click()
  await page.getByTestId('topic-origin').filter({ hasText: 'Car: Set by you' }).waitFor()
  check((await page.getByTestId('suggestions').count()) === 0, 'the suggestions are gone once a topic is set')
  await page.getByRole('button', { name: 'Delete' }).click()
  await page.getByRole('heading', { name: 'Documents' }).waitFor()
  await page.getByRole('link', { name: 'Topics' }).click()
  const [requeued] = await Promise.all([
    page.waitForResponse((r) => r.url().endsWith('/api/documents/reclassify-unconfirmed')),
    page.getByTestId('reclassify-unconfirmed').click(),
  ])
  check(requeued.status() === 202, `classify again answered ${requeued.status()}`)
  await page.getByRole('status').filter({ hasText: 'classified again' }).waitFor()
  for (const name of ['Car', 'Vehicle']) {
    await page.getByTestId(`topic-${name}`).getByRole('button', { name: 'Delete' }).click()
    await page.getByTestId(`topic-${name}`).waitFor({ state: 'detached' })
  }
  await page.getByRole('link', { name: 'Documents' }).click()
  log('an unclear document offered its two likeliest topics; one click filed it (set by you); unconfirmed documents queued again')

  step = 'admin'
  const admin = await browser.newContext({ viewport: { width: 1280, height: 800 } })
  const adminPage = await admin.newPage()
  watch(adminPage, 'admin')
  await signIn(adminPage, process.env.ADMIN_LOGIN, process.env.ADMIN_PASSWORD)
  await adminPage.getByRole('link', { name: 'Admin' }).click()
  await adminPage.getByRole('heading', { name: 'Users' }).waitFor()
  const userRow = adminPage.getByTestId(`user-${handle}`)
  await userRow.getByLabel(`Quota of ${handle} in MiB`).fill('50')
  const [patched] = await Promise.all([
    adminPage.waitForResponse((r) => r.request().method() === 'PATCH'),
    userRow.getByRole('button', { name: 'Set' }).click(),
  ])
  check(patched.status() === 200, `the quota change answered ${patched.status()}: ${await patched.text()}`)
  await userRow.getByRole('button', { name: 'AI provider' }).click()
  await adminPage.getByLabel('Provider', { exact: true }).selectOption('local')
  await adminPage.getByRole('button', { name: 'Save', exact: true }).click()
  await adminPage.getByText(`Saved for ${handle}.`).waitFor()
  await mainPage(adminPage, 'admin')
  await admin.close()
  await page.reload()
  await page.getByTestId('quota').filter({ hasText: 'of 50 MiB used' }).waitFor()
  log('the admin set the quota; the user sees it')

  step = 'document'
  await page.getByRole('link', { name: 'trip.txt' }).click()
  await page.getByRole('heading', { name: 'trip.txt' }).waitFor()
  await page.getByLabel('Name').fill('Lisbon trip.txt')
  await page.getByRole('button', { name: 'Rename' }).click()
  await page.getByRole('heading', { name: 'Lisbon trip.txt' }).waitFor()
  await page.getByRole('checkbox', { name: 'Finance' }).check()
  await page.getByRole('button', { name: 'Save topics' }).click()
  await page.getByText('(set by hand)').waitFor()
  await mainPage(page, 'document')
  const [download] = await Promise.all([
    page.waitForEvent('download'),
    page.getByRole('button', { name: 'Download' }).click(),
  ])
  check(download.suggestedFilename() === 'Lisbon trip.txt', `downloaded as ${download.suggestedFilename()}`)
  const got = readFileSync(await download.path())
  check(got.equals(ticket), 'the downloaded bytes are the uploaded ones')
  log('renamed, topics set by hand, downloaded (bytes match)')

  step = 'delete'
  await page.goto(`${BASE}/`)
  await page.getByRole('link', { name: 'invoice.pdf' }).click()
  await page.getByRole('button', { name: 'Delete' }).click()
  await page.getByRole('heading', { name: 'Documents' }).waitFor()
  await page.getByTestId('doc-Lisbon trip.txt').waitFor()
  check((await page.getByTestId('doc-invoice.pdf').count()) === 0, 'the deleted document is gone')

  step = 'folders'
  await page.getByLabel('New folder').fill('Taxes')
  await page.getByRole('button', { name: 'Make folder' }).click()
  await page.getByTestId('folder-Taxes').click()
  await page.waitForURL(/folder=/)
  await page.getByLabel('New folder here').fill('2026')
  await page.getByRole('button', { name: 'Make folder' }).click()
  await page.getByTestId('folder-2026').waitFor()
  await page.getByRole('button', { name: 'All documents' }).first().click()
  await page.getByRole('link', { name: 'Lisbon trip.txt' }).click()
  await page.getByRole('heading', { name: 'Lisbon trip.txt' }).waitFor()
  const target = await page.locator('#doc-folder option', { hasText: '2026' }).getAttribute('value')
  await page.getByLabel('Folder', { exact: true }).selectOption(target)
  await page.getByRole('button', { name: 'Move', exact: true }).click()
  await page.getByText('Moved.').waitFor()
  await page.getByRole('link', { name: '← Documents' }).click()
  await page.getByTestId('folder-2026').click()
  await page.getByTestId('breadcrumb').getByText('Taxes').waitFor()
  await page.getByTestId('doc-Lisbon trip.txt').waitFor()
  await page.getByRole('button', { name: 'Not in a folder' }).click()
  await page.getByText('No documents here.').waitFor()
  await mainPage(page, 'folders')
  log('folders made, a document moved into a subfolder and found there')

  step = 'search'
  await page.getByLabel('Search documents').fill('bookings')
  await page.getByRole('button', { name: 'Search', exact: true }).click()
  await page.waitForURL(/\/search\?q=bookings/)
  const hit = page.getByTestId('hit-Lisbon trip.txt')
  await hit.waitFor()
  const marked = await hit.locator('mark').allTextContents()
  check(marked.some((m) => /^booking$/i.test(m)), `the plural found the singular, highlighted: ${marked}`)
  await mainPage(page, 'search')
  await page.getByTestId('filter-folder').selectOption('root')
  await page.getByTestId('no-results').waitFor()
  log(`search: "bookings" found the document, ${marked.length} words highlighted; a folder filter narrows`)

  step = 'share'
  const friend = await browser.newContext({ viewport: { width: 1280, height: 800 } })
  const friendPage = await friend.newPage()
  watch(friendPage, 'friend')
  friendPage.on('dialog', (d) => d.accept())
  const friendHandle = `finn${Date.now() % 100000}`
  await friendPage.goto(`${BASE}/register`)
  await friendPage.getByLabel('Username', { exact: true }).fill(friendHandle)
  await friendPage.getByLabel('Email').fill(`${friendHandle}@example.org`)
  await friendPage.getByLabel('Password (at least 12 characters)').fill(password)
  await friendPage.getByRole('button', { name: 'Create account' }).click()
  await friendPage.getByRole('heading', { name: 'Documents' }).waitFor()
  await page.getByTestId('filter-folder').selectOption('')
  await page.getByRole('link', { name: 'Lisbon trip.txt' }).click()
  await page.getByRole('heading', { name: 'Lisbon trip.txt' }).waitFor()
  await page.getByLabel('Share with').fill(friendHandle)
  await page.getByRole('button', { name: 'Share', exact: true }).click()
  await page.getByTestId(`share-${friendHandle}`).waitFor()
  await page.getByTestId('activity').getByText(`shared it with ${friendHandle}`).waitFor()
  await friendPage.getByRole('link', { name: 'Shared with me' }).click()
  await friendPage.getByTestId('shared-Lisbon trip.txt').getByText(handle).waitFor()
  await mainPage(friendPage, 'shared')
  await friendPage.getByRole('link', { name: 'Lisbon trip.txt' }).click()
  await friendPage.getByTestId('shared-by').waitFor()
  const sharedUrl = friendPage.url()
  check((await friendPage.getByRole('button', { name: 'Delete' }).count()) === 0, 'a recipient gets no Delete')
  check((await friendPage.getByLabel('Name').count()) === 0, 'a recipient cannot rename')
  await friendPage.getByText('hotel booking in Lisbon').waitFor()
  await mainPage(friendPage, 'shared-document')
  await friendPage.getByLabel('Search documents').fill('Lisbon')
  await friendPage.getByRole('button', { name: 'Search', exact: true }).click()
  await friendPage.getByTestId('hit-Lisbon trip.txt').getByText(`shared by ${handle}`).waitFor()
  await page.reload()
  await page.getByTestId('activity').getByText(`${friendHandle} viewed it`).waitFor()
  await mainPage(page, 'document-shared')
  log('shared by handle; the recipient found it in Shared with me and in search, read-only; the owner saw the view')

  step = 'revoke'
  await page.getByTestId(`share-${friendHandle}`).getByRole('button', { name: 'Stop sharing' }).click()
  await page.getByText('Only you can see this document.').waitFor()
  await friendPage.getByRole('link', { name: 'Shared with me' }).click()
  await friendPage.getByText('Nobody has shared a document with you yet.').waitFor()
  await friendPage.goto(sharedUrl)
  await friendPage.getByText('document not found').waitFor()
  await friend.close()
  log('revoked: gone from the recipient at once')

  step = 'second tab across a token expiry'
  const tab2 = await context.newPage()
  watch(tab2, 'tab 2')
  await tab2.goto(`${BASE}/topics`)
  await tab2.getByTestId('topic-Finance').waitFor()
  log(`waiting ${TTL + 3} s for the access tokens to expire`)
  await new Promise((r) => setTimeout(r, (TTL + 3) * 1000))
  // Both tabs need a refresh at once; the Web Lock makes them take turns with the cookie.
  await Promise.all([tab2.reload(), page.getByRole('link', { name: 'Topics' }).click()])
  await Promise.all([tab2.getByTestId('topic-Travel').waitFor(), page.getByTestId('topic-Travel').waitFor()])
  await tab2.getByRole('link', { name: 'Documents' }).click()
  await tab2.getByTestId('doc-Lisbon trip.txt').waitFor()
  check(!tab2.url().includes('sign-in') && !page.url().includes('sign-in'), 'both tabs stayed signed in')
  log('both tabs stayed signed in across the expiry')

  step = 'totp'
  await page.getByRole('link', { name: 'Account' }).click()
  await page.getByRole('heading', { name: 'Account' }).waitFor()
  await page.getByTestId('ai-settings').getByText('as your admin assigned').waitFor()
  await page.getByRole('button', { name: 'Set up two-factor sign-in' }).click()
  const secret = (await page.getByTestId('totp-secret').textContent()).trim()
  await page.getByLabel('Code shown by the app').fill(totp(secret))
  await page.getByRole('button', { name: 'Turn on' }).click()
  await page.getByTestId('recovery-codes').waitFor()
  await mainPage(page, 'account')
  await page.getByRole('button', { name: 'Sign out', exact: true }).click()
  await page.waitForURL(/\/sign-in/)
  await nextTotpStep()
  await signIn(page, handle, password, () => totp(secret))
  log('two-factor sign-in enrolled and used')

  step = 'notifications'
  await page.getByRole('link', { name: 'Account' }).click()
  const emails = page.getByTestId('notifications')
  const sharedBox = emails.getByLabel('Someone shared a document with me')
  await sharedBox.check()
  await emails.getByText('Saved.').waitFor()
  await page.reload()
  check(await page.getByTestId('notifications').getByLabel('Someone shared a document with me').isChecked(), 'the email choice is kept')
  log('an email choice was saved on the Account page')

  step = 'api tokens'
  await page.getByRole('link', { name: 'Account' }).click()
  await page.getByRole('heading', { name: 'Account' }).waitFor()
  const tokens = page.getByTestId('api-tokens')
  await tokens.getByLabel('Name').fill('scanner')
  await tokens.getByLabel('Allowed').selectOption('upload')
  await tokens.getByRole('button', { name: 'Create token' }).click()
  const apiToken = (await page.getByTestId('new-token').textContent()).trim()
  check(apiToken.startsWith('dvt_'), `the new token is shown once: ${apiToken.slice(0, 6)}`)
  const form = new FormData()
  form.append('file', new Blob([pdf('Scanned from the hall scanner')], { type: 'application/pdf' }), 'From the scanner.pdf')
  const bearer = { Authorization: `Bearer ${apiToken}` }
  const sent = await fetch(`${BASE}/api/documents/upload`, { method: 'POST', headers: bearer, body: form })
  check(sent.status === 201, `the upload token uploads: ${sent.status}`)
  const peek = await fetch(`${BASE}/api/documents`, { headers: bearer })
  check(peek.status === 403, `the upload token cannot list documents: ${peek.status}`)
  await page.reload()
  const row = page.getByRole('row', { name: /scanner/ })
  await row.waitFor()
  const lastUsed = (await row.getByRole('cell').nth(3).textContent()).trim()
  check(lastUsed !== 'never' && lastUsed !== '', `the list shows when the token was last used: ${lastUsed}`)
  await mainPage(page, 'account-tokens')
  await page.getByRole('link', { name: 'Documents' }).click()
  await page.getByTestId('doc-From the scanner.pdf').waitFor()
  await page.getByRole('link', { name: 'Account' }).click()
  await page.getByRole('button', { name: 'Revoke scanner' }).click()
  await page.getByRole('button', { name: 'Revoke scanner' }).waitFor({ state: 'detached' })
  const after = await fetch(`${BASE}/api/me`, { headers: bearer })
  check(after.status === 401, `a revoked token stops working at once: ${after.status}`)
  log('API token made in the app, used by a script to upload, refused a read, revoked')

  step = 'mail import'
  // A mail with an attachment in a mailbox of the stack's IMAP server, put there over TLS.
  const mailbox = `e2e-${Date.now()}`
  const eml = [
    'From: Garage <garage@example.org>', `To: ${mailbox}@example.org`, 'Subject: Your invoice',
    'MIME-Version: 1.0', 'Content-Type: multipart/mixed; boundary="sep"', '',
    '--sep', 'Content-Type: text/plain', '', 'Invoice attached.',
    '--sep', 'Content-Type: text/plain; name="garage-invoice.txt"',
    'Content-Disposition: attachment; filename="garage-invoice.txt"', '',
    'Garage invoice: new tyres fitted, 320 EUR.', '--sep--', '',
  ].join('\r\n')
  const emlFile = `${OUT}/invoice.eml`
  writeFileSync(emlFile, eml)
  execFileSync('curl', ['-sS', '--max-time', '20', '--cacert', process.env.IMAP_CA, '--user',
    `${mailbox}:${process.env.IMAP_PASSWORD}`, '-T', emlFile, `imaps://localhost:${process.env.IMAPS_PORT}/INBOX`])
  const mailCard = page.getByTestId('mail-accounts')
  await mailCard.getByLabel('Server').fill('localhost')
  await mailCard.getByLabel('Security').selectOption('tls')
  await mailCard.getByLabel('Port (empty for the usual one)').fill(process.env.IMAPS_PORT)
  await mailCard.getByLabel('User name').fill(mailbox)
  await mailCard.getByLabel('Password').fill(process.env.IMAP_PASSWORD)
  await mailCard.getByRole('button', { name: 'Connect mailbox' }).click()
  const box = page.getByTestId(`mailbox-${mailbox}`)
  await box.waitFor()
  await box.getByRole('button', { name: 'Read now' }).click()
  // A worker reads it within seconds; the page shows the count once reloaded.
  for (let i = 0; i < 40; i++) {
    if ((await box.getByTestId('mail-imported').textContent()).startsWith('1 ')) break
    await new Promise((r) => setTimeout(r, 1000))
    await page.reload()
    await box.waitFor()
  }
  await box.getByTestId('mail-imported').filter({ hasText: '1 imported' }).waitFor({ timeout: 5000 })
  await mainPage(page, 'account-mail')
  await page.getByRole('link', { name: 'Documents' }).click()
  await page.getByTestId('doc-garage-invoice.txt').waitFor()
  await page.getByRole('link', { name: 'Account' }).click()
  await page.getByRole('button', { name: `Disconnect ${mailbox}` }).click()
  await page.getByTestId(`mailbox-${mailbox}`).waitFor({ state: 'detached' })
  log('a mailbox connected over TLS in the app; its attachment became a document')

  step = 'own cloud storage'
  // A WebDAV server the run started (rclone serve webdav over DAV_DIR), connected in the app;
  // new uploads are kept there, read back unchanged, and moved back by a worker.
  await page.getByRole('link', { name: 'Storage' }).click()
  await page.getByRole('heading', { name: 'Storage' }).waitFor()
  await page.getByLabel('Kind').selectOption('webdav')
  await page.getByLabel('Name', { exact: true }).fill('NAS')
  await page.getByLabel('Folder address').fill(process.env.DAV_URL)
  await page.getByLabel('User name').fill(process.env.DAV_USER)
  await page.getByLabel('Password', { exact: true }).fill(process.env.DAV_PASSWORD)
  await page.getByRole('button', { name: 'Connect', exact: true }).click()
  const nas = page.getByTestId('connection-NAS')
  await nas.getByTestId('connection-status').filter({ hasText: 'active' }).waitFor()
  await page.getByLabel('Keep new uploads in').selectOption({ label: 'NAS' })
  await page.getByTestId('storage-default').filter({ hasText: 'NAS' }).waitFor()
  await mainPage(page, 'storage')
  await page.getByRole('link', { name: 'Documents' }).click()
  const note = Buffer.from('Notes kept in our own cloud: the boiler was serviced in November.\n')
  await page.locator('#file-input').setInputFiles([{ name: 'boiler.txt', mimeType: 'text/plain', buffer: note }])
  await page.getByTestId('upload-boiler.txt').getByText('uploaded').waitFor()
  await page.getByRole('link', { name: 'boiler.txt' }).click()
  await page.getByRole('heading', { name: 'boiler.txt' }).waitFor()
  await page.getByTestId('kept-in').filter({ hasText: 'NAS' }).waitFor()
  const inCloud = (dir) => readdirSync(dir, { recursive: true }).filter((f) => String(f).endsWith('.txt'))
  const kept = inCloud(process.env.DAV_DIR)
  check(kept.length === 1 && String(kept[0]).startsWith('DocuVault/Unfiled/boiler ('), `kept in the cloud as ${kept}`)
  check(readFileSync(`${process.env.DAV_DIR}/${kept[0]}`).equals(note), 'the bytes in the cloud are the uploaded ones')
  const [fromCloud] = await Promise.all([
    page.waitForEvent('download'),
    page.getByRole('button', { name: 'Download' }).click(),
  ])
  check(readFileSync(await fromCloud.path()).equals(note), 'the download from the cloud has the uploaded bytes')
  await page.getByLabel('Keep in').selectOption('vault')
  await page.getByRole('button', { name: 'Move there' }).click()
  await page.getByText('Moving it').waitFor()
  for (let i = 0; i < 30 && !(await page.getByTestId('kept-in').textContent()).includes('DocuVault'); i++) {
    await new Promise((r) => setTimeout(r, 1000))
    await page.reload()
    await page.getByTestId('kept-in').waitFor()
  }
  await page.getByTestId('kept-in').filter({ hasText: 'DocuVault' }).waitFor({ timeout: 2000 })
  await page.getByText('Moved to DocuVault').waitFor()
  check(inCloud(process.env.DAV_DIR).length === 0, 'moved back: nothing left in the cloud')
  await page.getByRole('link', { name: 'Storage' }).click()
  await page.getByLabel('Keep new uploads in').selectOption('vault')
  await page.getByTestId('storage-default').filter({ hasText: 'DocuVault' }).waitFor()
  await page.getByRole('button', { name: 'Disconnect NAS' }).click()
  await page.getByTestId('connection-NAS').waitFor({ state: 'detached' })
  log('a WebDAV server connected in the app; an upload kept there, downloaded unchanged, moved back by a worker; disconnected')

  step = 'google drive by signing in'
  // web/e2e/cloud-provider.mjs plays Google (sign-in, token endpoint, Drive v3): the browser
  // goes there, consents at once and comes back to DocuVault's callback.
  const provider = process.env.CLOUD_PROVIDER_URL
  const providerFiles = async () => (await (await fetch(`${provider}/_control/files`)).json()).gdrive
  await page.getByRole('button', { name: 'Connect Google Drive' }).click()
  await page.waitForURL(/\/storage$/)
  await page.getByText('Connected. Choose it below').waitFor()
  const drive = page.getByTestId('connection-Google Drive')
  await drive.getByTestId('connection-status').filter({ hasText: 'active' }).waitFor()
  await drive.getByText('ada@example.org').waitFor()
  await page.getByLabel('Keep new uploads in').selectOption({ label: 'Google Drive' })
  await page.getByTestId('storage-default').filter({ hasText: 'Google Drive' }).waitFor()
  await page.getByRole('link', { name: 'Documents' }).click()
  const memo = Buffer.from('Kept in Google Drive: the car insurance renews in March.\n')
  await page.locator('#file-input').setInputFiles([{ name: 'car.txt', mimeType: 'text/plain', buffer: memo }])
  await page.getByTestId('upload-car.txt').getByText('uploaded').waitFor()
  const inDrive = await providerFiles()
  check(inDrive.length === 1 && inDrive[0].path.startsWith('DocuVault/Unfiled/car ('), `kept in Google Drive as ${JSON.stringify(inDrive)}`)
  check(inDrive[0]?.sha256 === createHash('sha256').update(memo).digest('hex'), 'the bytes in Google Drive are the uploaded ones')
  await page.getByRole('link', { name: 'car.txt' }).click()
  await page.getByTestId('kept-in').filter({ hasText: 'Google Drive' }).waitFor()
  const [fromDrive] = await Promise.all([
    page.waitForEvent('download'),
    page.getByRole('button', { name: 'Download' }).click(),
  ])
  check(readFileSync(await fromDrive.path()).equals(memo), 'the download from Google Drive has the uploaded bytes')
  // The person revokes DocuVault at Google: the page says so and signing in again mends it.
  await fetch(`${provider}/_control/revoke`, { method: 'POST' })
  await page.getByRole('link', { name: 'Storage' }).click()
  await drive.getByRole('button', { name: 'Test' }).click()
  await drive.getByTestId('connection-status').filter({ hasText: 'error' }).waitFor()
  await drive.getByText('sign in again on the Storage page').waitFor()
  await mainPage(page, 'storage-signed-out')
  await page.getByRole('button', { name: 'Sign in again to Google Drive' }).click()
  await page.waitForURL(/\/storage$/)
  await drive.getByTestId('connection-status').filter({ hasText: 'active' }).waitFor()
  await page.getByLabel('Keep new uploads in').selectOption('vault')
  await page.getByTestId('storage-default').filter({ hasText: 'DocuVault' }).waitFor()
  await drive.getByRole('button', { name: 'Move all back to DocuVault' }).click()
  await drive.getByTestId('connection-documents').filter({ hasText: '0 document' }).waitFor({ timeout: 30000 })
  check((await providerFiles()).length === 0, 'moved back: nothing left in Google Drive')
  await page.getByRole('button', { name: 'Disconnect Google Drive' }).click()
  await drive.waitFor({ state: 'detached' })
  log('Google Drive connected by signing in; an upload kept there unchanged; a revoked sign-in shown and mended; moved back; disconnected')

  step = 'sign out everywhere'
  await page.getByRole('link', { name: 'Account' }).click()
  await page.getByRole('heading', { name: 'Account' }).waitFor()
  await page.getByRole('button', { name: 'Sign out everywhere' }).click()
  await page.waitForURL(/\/sign-in/)
  await tab2.reload()
  await tab2.waitForURL(/\/sign-in/)
  log('signed out everywhere: the other tab is signed out too')

  step = 'password reset from the emailed link'
  await tab2.goto(`${BASE}/reset-password`)
  await tab2.getByLabel("Your account's email").fill(`${handle}@example.org`)
  await tab2.getByRole('button', { name: 'Send reset link' }).click()
  await tab2.getByText('a reset link is on its way').waitFor()
  const link = await resetLink(`${handle}@example.org`)
  check(link.startsWith(`${BASE}/reset-password#token=`), `the link points at the app: ${link}`)
  await tab2.goto(link)
  const newPassword = 'a brand new passphrase 9'
  await tab2.getByLabel('New password').fill(newPassword)
  await tab2.getByRole('button', { name: 'Set password' }).click()
  await tab2.getByText('Your password is changed').waitFor()
  await mainPage(tab2, 'reset')
  // The new password is the one that works now (the account then asks for its second factor).
  await tab2.goto(`${BASE}/sign-in`)
  await tab2.getByLabel('Username or email').fill(handle)
  await tab2.getByLabel('Password', { exact: true }).fill(newPassword)
  await tab2.getByRole('button', { name: 'Sign in' }).click()
  await tab2.getByLabel('Code from your authenticator app (or a recovery code)').waitFor()
  log('password reset through the emailed link; the new password signs in')

  step = 'single sign-on'
  // A person of the organisation, new here, signs in through its identity provider (a real
  // OpenID provider, web/e2e/oidc-provider.mjs) from a page they were sent to, in a fresh
  // browser; their account is made (OIDC_AUTO_CREATE) and they land on that page.
  const ssoContext = await browser.newContext({ viewport: { width: 1280, height: 800 } })
  ssoContext.setDefaultTimeout(30_000)
  const ssoPage = await ssoContext.newPage()
  watch(ssoPage, 'sso')
  const ssoUser = `sso${Date.now() % 100000}`
  await ssoPage.goto(`${BASE}/search`)
  await ssoPage.waitForURL(/\/sign-in/)
  await ssoPage.getByRole('link', { name: 'Sign in with Test ID' }).click()
  await ssoPage.waitForURL((url) => url.origin !== new URL(BASE).origin)
  await ssoPage.locator('input[name="login"]').fill(ssoUser)
  await ssoPage.locator('input[name="password"]').fill('whatever the provider asks')
  await ssoPage.getByRole('button', { name: 'Sign-in' }).click()
  await ssoPage.waitForURL(`${BASE}/search`)
  await ssoPage.getByRole('heading', { name: 'Search' }).waitFor()
  await ssoPage.getByRole('link', { name: 'Account' }).click()
  await ssoPage.getByText(`${ssoUser} · ${ssoUser}@example.org`).waitFor()
  // No password to change for an account made by single sign-on.
  await ssoPage.getByTestId('sso-only').waitFor()
  check((await ssoPage.getByRole('button', { name: 'Change password' }).count()) === 0, 'no password form for an SSO account')
  // A reload keeps the sign-in (the refresh cookie the callback set).
  await ssoPage.reload()
  await ssoPage.getByText(`${ssoUser} · ${ssoUser}@example.org`).waitFor()
  // Someone whose email the provider did not verify is turned back with the reason.
  const strangerContext = await browser.newContext({ viewport: { width: 1280, height: 800 } })
  strangerContext.setDefaultTimeout(30_000)
  const stranger = await strangerContext.newPage()
  watch(stranger, 'sso refused')
  await stranger.goto(`${BASE}/sign-in`)
  await stranger.getByRole('link', { name: 'Sign in with Test ID' }).click()
  await stranger.locator('input[name="login"]').fill(`unverified-${ssoUser}`)
  await stranger.locator('input[name="password"]').fill('whatever')
  await stranger.getByRole('button', { name: 'Sign-in' }).click()
  await stranger.waitForURL(/\/sign-in\?sso_error=sso_email_unverified/)
  await stranger.getByText('did not confirm your email address').waitFor()
  await mainPage(stranger, 'sign-in-sso-refused')
  await strangerContext.close()
  await ssoContext.close()
  log(`signed in through the identity provider as the new account ${ssoUser}, back on the page asked for; an unverified email was refused with the reason`)

  step = 'api docs and caching'
  await tab2.goto(`${BASE}/api/docs`)
  await tab2.getByText('DocuVault API').first().waitFor()
  await tab2.getByText('/api/documents/upload').first().waitFor()
  const index = await context.request.get(`${BASE}/`)
  check(index.headers()['cache-control'] === 'no-cache', 'index.html is revalidated')
  check(/script-src 'self'/.test(index.headers()['content-security-policy']), 'the app has its CSP')
  const script = (await index.text()).match(/src="(\/assets\/[^"]+\.js)"/)[1]
  const asset = await context.request.get(`${BASE}${script}`, { headers: { 'Accept-Encoding': 'br' } })
  check(asset.headers()['cache-control'].includes('immutable'), 'hashed assets are cached for good')
  check(asset.headers()['content-encoding'] === 'br', 'assets are sent compressed')
  const missing = await context.request.get(`${BASE}/api/no-such-thing`)
  check(missing.status() === 404 && (await missing.json()).error.code === 'not_found', 'unknown API paths keep their JSON 404')
} catch (e) {
  failed = true
  for (const [i, p] of browser.contexts().flatMap((c) => c.pages()).entries()) {
    await p.screenshot({ path: `${OUT}/failure-${i}.png`, fullPage: true }).catch(() => undefined)
  }
  console.error(`[e2e] FAILED at ${step}: ${e.stack ?? e}`)
} finally {
  await browser.close()
}
for (const p of problems) console.error(`[e2e] problem: ${p}`)
if (failed || problems.length > 0) process.exit(1)
log(`passed; screenshots in ${OUT}`)
