export function bytes(n: number): string {
  if (n < 1024) return `${n} B`
  const units = ['KiB', 'MiB', 'GiB', 'TiB']
  let v = n / 1024
  let i = 0
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024
    i++
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`
}

export function when(iso: string): string {
  return new Date(iso).toLocaleString()
}

/** What kind of file a stored MIME type is, in words. */
export function kind(mime: string): string {
  const names: Record<string, string> = {
    'application/pdf': 'PDF',
    'text/plain': 'Text',
    'image/png': 'PNG image',
    'image/jpeg': 'JPEG image',
    'image/tiff': 'TIFF image',
    'application/vnd.openxmlformats-officedocument.wordprocessingml.document': 'Word document',
    'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet': 'Excel workbook',
    'application/vnd.openxmlformats-officedocument.presentationml.presentation': 'PowerPoint presentation',
    'application/vnd.oasis.opendocument.text': 'OpenDocument text',
    'application/vnd.oasis.opendocument.spreadsheet': 'OpenDocument spreadsheet',
    'application/vnd.oasis.opendocument.presentation': 'OpenDocument presentation',
    'application/rtf': 'RTF document',
  }
  return names[mime] ?? mime
}
