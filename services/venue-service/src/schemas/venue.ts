// The public venue API's schemas live in @hub/contracts (the fake venue-service of
// @hub/service-kit/testing serves the same ones); the problem responses its routes add are here.
import { ProblemSchema } from '@hub/contracts'

export const ProblemResponses = {
  400: ProblemSchema,
  401: ProblemSchema,
  403: ProblemSchema,
  404: ProblemSchema,
  409: ProblemSchema,
  429: ProblemSchema,
  503: ProblemSchema,
}
