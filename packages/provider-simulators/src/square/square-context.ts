import type { CursorCodec } from './square-paging.ts'
import type { SquareStore } from './square-store.ts'

/** What every route module needs: the state and the cursor codec. */
export interface SquareRouteContext {
  store: SquareStore
  codec: CursorCodec
}
