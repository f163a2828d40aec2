// One action at a time on a card: `busy` while it runs, its error or a notice after.
import { ref } from 'vue'

export function useGuarded() {
  const busy = ref(false)
  const error = ref<string | null>(null)
  const notice = ref<string | null>(null)

  /** Runs `task`; shows `done` if it succeeds, its message if it fails. */
  async function guarded(task: () => Promise<void>, done?: string) {
    error.value = null
    notice.value = null
    busy.value = true
    try {
      await task()
      if (done) notice.value = done
    } catch (e) {
      error.value = (e as Error).message
    } finally {
      busy.value = false
    }
  }

  return { busy, error, notice, guarded }
}
