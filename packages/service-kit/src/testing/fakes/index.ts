// Fakes of the hub's services for tests of their callers, swapped in by construction (a URL in the
// caller's config): each serves the other service's contract from @hub/contracts, verifies internal
// signatures with @hub/internal-auth as the real service does, and keeps what it was sent in memory.
// Tests inside a service never start another service; flows across services are proven in e2e/.
export { createFakeService, type FakeService, type ReceivedRequest } from './fake-service.ts'
export { createFakeVenueService, VENUE_SERVICE_PERMISSIONS, type FakeVenueService } from './fake-venue-service.ts'
export { createFakeIntegrationService, INTEGRATION_SERVICE_PERMISSIONS, type FakeIntegrationService, type NewRun, type RunChange } from './fake-integration-service.ts'
export { createFakeComplianceService, COMPLIANCE_SERVICE_PERMISSIONS, type FakeComplianceService } from './fake-compliance-service.ts'
