/* The Kinesis Data Streams API (awsJson1_1, Kinesis_20131202) over the stream service. */
#ifndef SLUICE_STREAM_KINESIS_API_H
#define SLUICE_STREAM_KINESIS_API_H

#include "http/api.h"
#include "stream/stream.h"

int kinesis_api_register(struct stream_service *svc, struct api_registry *reg);

#endif
