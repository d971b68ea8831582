/**
 * Test helpers for code built on reqforge: an in-memory transport and a fake clock.
 * @packageDocumentation
 */
export { FakeClock } from './testing/fake-clock.js';
export {
  type MemoryHandler,
  type MemoryReply,
  type MemoryRequest,
  MemoryTransport,
  networkError,
  type RecordedCall,
} from './transport/memory.js';
