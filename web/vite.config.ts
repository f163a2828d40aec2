import { defineConfig } from 'vite'
import vue from '@vitejs/plugin-vue'

// `make web` builds into dist/, which `docuvault serve` embeds; `npm run dev` proxies the API to
// a server on :8080.
export default defineConfig({
  plugins: [vue()],
  build: {
    outDir: 'dist',
    assetsDir: 'assets',
    // No inline script anywhere: the CSP allows only files from our origin.
    modulePreload: { polyfill: false },
    sourcemap: false,
  },
  server: {
    proxy: { '/api': 'http://127.0.0.1:8080', '/health': 'http://127.0.0.1:8080' },
  },
})
