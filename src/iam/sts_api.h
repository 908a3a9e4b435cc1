/* STS over the query protocol: GetCallerIdentity for now. */
#ifndef SLUICE_IAM_STS_API_H
#define SLUICE_IAM_STS_API_H

#include "http/api.h"
#include "iam/iam.h"

int sts_api_register(struct iam *iam, struct api_registry *reg);

#endif
