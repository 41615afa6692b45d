export * from './consumer.ts'
