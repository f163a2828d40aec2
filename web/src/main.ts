import { createPinia } from 'pinia'
import { createApp } from 'vue'
import App from './App.vue'
import { router } from './router'
import './style.css'

const app = createApp(App)
app.use(createPinia())
app.use(router)
// The router's guard resumes an earlier sign-in (from the refresh cookie) before the first page.
app.mount('#app')
