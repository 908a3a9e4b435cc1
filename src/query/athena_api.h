/*
 * The Athena API adapter: AmazonAthena's awsJson1_1 operations (X-Amz-Target
 * "AmazonAthena.<Op>", SigV4 signing name "athena") on top of the query service.
 */
#ifndef SLUICE_QUERY_ATHENA_API_H
#define SLUICE_QUERY_ATHENA_API_H

#include "http/api.h"
#include "query/query.h"

/*
 * The service's description for the front end's registry (api_registry_add_json), or
 * for tests and the fuzzer that call operations directly. The caller owns it and frees
 * it with athena_api_destroy after the registry it was added to; svc must outlive it.
 * Never fails (the allocation aborts).
 */
struct api_json_service *athena_api_create(struct query_service *svc);
/* Frees a description from athena_api_create; NULL is allowed. */
void athena_api_destroy(struct api_json_service *svc);

#endif
