/* The Kinesis Data Streams API (awsJson1_1, Kinesis_20131202) over the stream service. */
#ifndef SLUICE_STREAM_KINESIS_API_H
#define SLUICE_STREAM_KINESIS_API_H

#include "http/api.h"
#include "stream/stream.h"

/*
 * The Kinesis service's description for the front end's registry (api_registry_add_json).
 * The caller owns it and frees it with kinesis_api_destroy after the registry it was
 * added to; svc must outlive it. Never fails (the allocation aborts).
 */
struct api_json_service *kinesis_api_create(struct stream_service *svc);
/* Frees a description from kinesis_api_create; NULL is allowed. */
void kinesis_api_destroy(struct api_json_service *desc);

#endif
