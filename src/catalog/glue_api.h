/*
 * The Glue API adapter: Glue's awsJson1_1 operations (X-Amz-Target "AWSGlue.<Op>",
 * SigV4 signing name "glue") on top of the catalog service.
 */
#ifndef SLUICE_CATALOG_GLUE_API_H
#define SLUICE_CATALOG_GLUE_API_H

#include "catalog/catalog.h"
#include "http/api.h"

/*
 * The Glue service's description for the front end's registry
 * (api_registry_add_json), or for tests that call operations directly. The caller owns
 * it and frees it with glue_api_destroy after the registry it was added to; cat must
 * outlive it. Never fails (the allocation aborts).
 */
struct api_json_service *glue_api_create(struct catalog *cat);
/* Frees a description from glue_api_create; NULL is allowed. */
void glue_api_destroy(struct api_json_service *svc);

#endif
