/*
 * The Firehose API adapter: Data Firehose's awsJson1_1 operations (X-Amz-Target
 * "Firehose_20150804.<Op>", SigV4 signing name "firehose") on top of the delivery service.
 */
#ifndef SLUICE_DELIVERY_FIREHOSE_API_H
#define SLUICE_DELIVERY_FIREHOSE_API_H

#include "delivery/delivery.h"
#include "http/api.h"

/*
 * The service's description for the front end's registry (api_registry_add_json), or for
 * tests and the fuzzer that call operations directly. The caller owns it and frees it with
 * firehose_api_destroy after the registry it was added to; svc must outlive it. Never
 * fails (the allocation aborts).
 */
struct api_json_service *firehose_api_create(struct delivery_service *svc);
/* Frees a description from firehose_api_create; NULL is allowed. */
void firehose_api_destroy(struct api_json_service *svc);

#endif
