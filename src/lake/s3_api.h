/*
 * The S3 REST API (rest-xml) over the lake: buckets, objects, listing, multipart
 * uploads, tagging and policies, in path-style and virtual-hosted-style addressing.
 * The HTTP front end authenticates each request (SigV4 header or presigned query);
 * this adapter verifies the payload against x-amz-content-sha256 (a hex hash,
 * UNSIGNED-PAYLOAD, or aws-chunked with chunk signatures and trailing checksums),
 * Content-MD5 and x-amz-checksum-*, and answers in S3's XML.
 */
#ifndef SLUICE_LAKE_S3_API_H
#define SLUICE_LAKE_S3_API_H

#include "http/api.h"
#include "lake/lake.h"

/*
 * Adds the S3 service (signing name "s3") to reg, serving lake. The lake must outlive
 * the registry. Returns 0.
 */
int s3_api_register(struct lake *lake, struct api_registry *reg);

#endif
