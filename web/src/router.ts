import { createRouter, createWebHistory } from 'vue-router'
import { useAuth } from './stores/auth'

export const router = createRouter({
  history: createWebHistory(),
  routes: [
    { path: '/', name: 'documents', component: () => import('./views/DocumentsView.vue') },
    { path: '/documents/:id', name: 'document', component: () => import('./views/DocumentView.vue'), props: true },
    { path: '/shared', name: 'shared', component: () => import('./views/SharedView.vue') },
    { path: '/search', name: 'search', component: () => import('./views/SearchView.vue') },
    { path: '/topics', name: 'topics', component: () => import('./views/TopicsView.vue') },
    { path: '/storage', name: 'storage', component: () => import('./views/StorageView.vue') },
    { path: '/account', name: 'account', component: () => import('./views/AccountView.vue') },
    { path: '/admin', name: 'admin', component: () => import('./views/AdminView.vue'), meta: { admin: true } },
    { path: '/sign-in', name: 'sign-in', component: () => import('./views/SignInView.vue'), meta: { public: true } },
    { path: '/register', name: 'register', component: () => import('./views/RegisterView.vue'), meta: { public: true } },
    { path: '/reset-password', name: 'reset', component: () => import('./views/ResetView.vue'), meta: { public: true } },
    { path: '/:rest(.*)*', name: 'missing', component: () => import('./views/MissingView.vue'), meta: { public: true } },
  ],
})

router.beforeEach(async (to) => {
  const auth = useAuth()
  await auth.restore()
  if (!to.meta.public && !auth.user) {
    return { name: 'sign-in', query: { next: to.fullPath } }
  }
  if (to.meta.admin && !auth.isAdmin) return { name: 'documents' }
  return true
})
