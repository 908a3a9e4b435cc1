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
 * The S3 service's description (signing name "s3", serving lake) for the front end's
 * registry (api_registry_add_rest). The caller owns it and frees it with s3_api_destroy
 * after the registry it was added to; lake must outlive it. Never fails (the
 * allocation aborts).
 */
struct api_rest_service *s3_api_create(struct lake *lake);
/* Frees a description from s3_api_create; NULL is allowed. */
void s3_api_destroy(struct api_rest_service *desc);

/*
 * The test clock (sluice serve --test-clock): a plain endpoint, POST
 * /_sluice/clock/advance?seconds=N, that moves the lifecycle clock forward and runs a
 * lifecycle sweep before answering, so tests see days pass at once. Never registered
 * unless asked for.
 */
struct s3_lifecycle_clock;
struct s3_lifecycle_clock *s3_lifecycle_clock_create(struct lake *lake);
const struct api_plain_service *s3_lifecycle_clock_service(struct s3_lifecycle_clock *c);
void s3_lifecycle_clock_destroy(struct s3_lifecycle_clock *c); /* NULL allowed */

#endif
