/* STS over the query protocol: GetCallerIdentity for now. */
#ifndef SLUICE_IAM_STS_API_H
#define SLUICE_IAM_STS_API_H

#include "http/api.h"
#include "iam/iam.h"

/*
 * The STS service's description for the front end's registry (api_registry_add_query).
 * The caller owns it and frees it with sts_api_destroy after the registry it was added
 * to; iam must outlive it. Never fails (the allocation aborts).
 */
struct api_query_service *sts_api_create(struct iam *iam);
/* Frees a description from sts_api_create; NULL is allowed. */
void sts_api_destroy(struct api_query_service *desc);

#endif
