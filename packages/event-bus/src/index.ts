export * from './consumer.ts'
export * from './keep-consuming.ts'
