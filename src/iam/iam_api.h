/* IAM over the query protocol: users, access keys, roles, inline policies. */
#ifndef SLUICE_IAM_IAM_API_H
#define SLUICE_IAM_IAM_API_H

#include "http/api.h"
#include "iam/iam.h"

/* The IAM service's description for the front end's registry; iam (opened with a
   store) must outlive it. Never fails (the allocation aborts). */
struct api_query_service *iam_api_create(struct iam *iam);
/* Frees a description from iam_api_create; NULL is allowed. */
void iam_api_destroy(struct api_query_service *desc);

#endif
