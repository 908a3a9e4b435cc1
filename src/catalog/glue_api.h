/*
 * The Glue API adapter: Glue's awsJson1_1 operations (X-Amz-Target "AWSGlue.<Op>",
 * SigV4 signing name "glue") on top of the catalog service.
 */
#ifndef SLUICE_CATALOG_GLUE_API_H
#define SLUICE_CATALOG_GLUE_API_H

#include "catalog/catalog.h"
#include "http/api.h"

/* Registers the Glue service with reg; cat must outlive the registry (the service
 * description belongs to cat). Returns 0. */
int glue_api_register(struct catalog *cat, struct api_registry *reg);

/* The service description glue_api_register adds (for tests that call operations
 * directly). Valid while cat lives. */
const struct api_json_service *glue_api_service(struct catalog *cat);

#endif
