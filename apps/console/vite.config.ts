// Builds the console into dist/ (served by the gateway at /). JSX compiles to Preact without a plugin;
// no inline script or style is emitted, so the gateway's Content-Security-Policy needs no exception.
import { defineConfig } from 'vite'

export default defineConfig({
  esbuild: { jsx: 'automatic', jsxImportSource: 'preact' },
  resolve: { alias: { react: 'preact/compat', 'react-dom': 'preact/compat' } },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
    sourcemap: false,
    target: 'es2022',
  },
  server: { proxy: { '/api': 'http://127.0.0.1:3000', '/console': 'http://127.0.0.1:3000' } },
})
