/*
 * The contract between the HTTP front end and the services' API adapters.
 *
 * The front end parses HTTP, authenticates every request with SigV4, picks the
 * service (X-Amz-Target for the JSON protocols, else the SigV4 credential scope's
 * service name, else S3), and calls one operation with a struct api_call. The
 * operation returns 0 or a negative code (core/err.h) with the message in call->err;
 * the protocol renders the error body, status and headers AWS would.
 *
 * Three protocol shapes:
 *   JSON (awsJson1_0/1_1)  op(call, input json, &output json), or a raw op that reads
 *                          the body and writes the JSON response itself (the record
 *                          hot path: PutRecords, GetRecords).
 *   query (IAM, STS)       op(call, form params, buf) writes the <XResult> element body.
 *   rest-xml (S3)          one handler per service that reads the request and fills
 *                          call->resp whole.
 *
 * Lifetimes: everything in api_request is valid for the duration of the call. A JSON
 * op's *output becomes the front end's (it json_decref's it). Response bodies are owned
 * by the response.
 */
#ifndef SLUICE_HTTP_API_H
#define SLUICE_HTTP_API_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/buf.h"
#include "core/err.h"

struct http_principal;
struct api_params;

struct api_header {
    const char *name;
    const char *value;
};

struct api_request {
    const char *request_id; /* also sent back as x-amzn-RequestId / x-amz-request-id */
    const char *method;     /* "GET", "PUT", ... */
    const char *path;       /* as sent, still percent-encoded, without the query */
    const char *query;      /* as sent after '?', "" when none */
    const char *host;       /* Host header, "" when none */
    const uint8_t *body;    /* the body when held in memory, else NULL */
    size_t body_len;        /* body bytes, in memory or spooled */
    int body_fd;            /* spooled body, readable from offset 0; -1 when in memory */
    const struct api_header *headers; /* as received, names as sent */
    size_t n_headers;
    /* Identity and scope established by SigV4. */
    const char *account_id;
    const char *access_key_id;
    /* Who signed it (http.h's struct http_principal): kind, ARN, UserId, name. */
    int principal_kind;
    const char *principal_arn;
    const char *principal_id;
    const char *principal_name;
    const char *region;          /* the credential scope's region */
    const char *signing_service; /* the credential scope's service */
    /* For S3's chunked payloads: the verified seed signature and its signing material. */
    const char *seed_signature;  /* hex, "" for presigned/none */
    const uint8_t *signing_key;  /* 32 bytes */
    const char *amz_date;        /* "20261126T100000Z" */
    const char *credential_scope; /* "20261126/us-east-1/s3/aws4_request" */
    int64_t now_ms;              /* the time the request arrived */
    const char *source_ip;       /* the client's address ("127.0.0.1"), NULL when unknown */
    /* The front end's key lookup and authorization hook (http.h's http_key_lookup_fn and
       http_authorize_fn) and their argument, for a request that carries its signature in
       its body (S3's POST Object form), which the adapter authenticates itself. Either
       hook may be NULL. */
    int (*key_lookup)(void *arg, const char *access_key_id, const char *security_token,
                      int64_t now_ms, char *secret_out, size_t secret_size,
                      struct http_principal *who);
    int (*authorize)(void *arg, const struct api_request *req, const char *service,
                     const char *operation, const struct api_params *params,
                     struct err_info *err);
    void *auth_arg;
};

/* Case-insensitive header lookup; NULL when absent. */
const char *api_request_header(const struct api_request *req, const char *name);

/*
 * A response body made over time (SubscribeToShard's event stream): the engine sends
 * the head without a Content-Length (HTTP/1.1 chunked, HTTP/2 DATA frames as bytes come)
 * and asks for the body piece by piece until it ends, the client goes away or the
 * server stops.
 *
 * next appends what is ready to out, waiting at most timeout_ms for something to be:
 * returns 1 while the body goes on (out may have gained nothing), 0 when it is complete
 * (out may hold its last bytes), or a negative code when it must end abruptly (the
 * engine then drops the connection or resets the stream). The engine calls it with a
 * short timeout so that it can notice a departed client or a stopping server between
 * calls; next is never called concurrently with itself, but may be called from a
 * thread other than the handler's. close frees arg and the struct once no next is
 * running or will run, whether or not the body was complete: that is the cancel.
 */
struct api_stream_body {
    int (*next)(void *arg, struct buf *out, int timeout_ms);
    void (*close)(void *arg);
    void *arg;
    /* When > 0, the body's exact size, known at the start (a large object decrypted as
       it is sent): sent as Content-Length, the bytes unframed. A body that then ends
       short of it (a failed producer, a stopping server) drops the connection (HTTP/1.x)
       or ends the stream short of it (HTTP/2): the client sees it cut short. */
    int64_t length;
};

struct api_response {
    int status;               /* defaults to 200 */
    struct api_header *headers; /* owned copies; add with api_response_header */
    size_t n_headers;
    struct buf body;          /* in-memory body */
    int body_fd;              /* when >= 0 the body is fd[body_offset, +body_fd_len); closed by the server */
    off_t body_offset;
    size_t body_fd_len;
    int head_only;            /* HEAD: send headers (Content-Length of the full body) but no body */
    struct api_stream_body *stream; /* when set, the body (owned; body and body_fd unused) */
    /* S3: the bucket the request named and the operation that answered (a literal, NULL
       when none), for its request metrics; "" when no bucket. */
    char metrics_bucket[64];
    const char *metrics_operation;
    const char *metrics_key; /* the object key (valid until the observation), NULL when none */
};

/* Adds (copies) a response header. */
void api_response_header(struct api_response *resp, const char *name, const char *value);

struct api_call {
    const struct api_request *req;
    struct api_response *resp;
    struct err_info err;   /* set with err_set when returning an error */
    void *service_ctx;     /* the ctx given when the service was registered */
    const char *operation; /* the operation name, for logs and metrics */
    const char *resource;  /* S3: the resource named in an error document, optional */
    const char *error_extra; /* S3: elements an error document carries after its Message
                                (escaped XML, a preflight's Method), optional */
    /* An error message longer than err.message holds (a validation of many violations),
       malloc'd and freed by the front end, which then shows it instead; else NULL. */
    char *long_message;
    const void *op_arg; /* query protocol: the op's arg (struct api_query_op) */
};

/* ---- JSON protocols ---- */
typedef int (*api_json_fn)(struct api_call *call, json_t *input, json_t **output);
typedef int (*api_json_raw_fn)(struct api_call *call, const uint8_t *body, size_t len,
                               struct buf *out);
struct api_json_op {
    const char *name;      /* "PutRecord" */
    api_json_fn fn;        /* exactly one of fn and raw_fn */
    api_json_raw_fn raw_fn;
};
struct api_json_service {
    const char *signing_name;  /* "kinesis" */
    const char *target_prefix; /* "Kinesis_20131202" */
    const char *json_version;  /* "1.1" or "1.0" */
    const struct api_json_op *ops;
    size_t n_ops;
    void *ctx;
    /*
     * The service front end's checks of an operation's input (call->operation set),
     * run before the operation with the input as JSON or CBOR decoded it; 0 or an error
     * in call->err. A raw op checks its own input: for it validate runs only when the
     * op has failed, so that a failure is worded as the front end would. NULL for none.
     */
    int (*validate)(struct api_call *call, json_t *input);
    /*
     * CBOR (application/x-amz-cbor-1.1, the same documents as JSON): the output
     * members the model makes blobs and timestamps, NULL-terminated, written as byte
     * strings and tag 1 epochs. NULL when the service does not speak CBOR.
     */
    const char *const *cbor_blob_members;
    const char *const *cbor_epoch_members;
    /* 1: also Smithy RPC v2 CBOR (POST /service/<target_prefix>/operation/<Op> with
       smithy-protocol: rpc-v2-cbor; timestamps in epoch seconds, cbor_epoch_members). */
    int rpcv2_cbor;
};

/* For a JSON op that hands its input document to a service function (api_json.c): the
   input as an object, a new empty one held in *hold when the request had none (the caller
   json_decref's *hold after the call). */
json_t *api_json_input(json_t *input, json_t **hold);
/* Ends such an op: on failure (rc < 0) drops out and words a message from rc when the
   service set none; on success *output is out, or {} when it gave none. Returns rc. */
int api_json_end(struct api_call *call, int rc, json_t *out, json_t **output);

/* ---- query protocol ---- */
struct api_params; /* decoded form fields of the body or query string */
/* The value of a field, NULL when absent. */
const char *api_params_get(const struct api_params *p, const char *name);
size_t api_params_count(const struct api_params *p);
const char *api_params_name(const struct api_params *p, size_t idx);
const char *api_params_value(const struct api_params *p, size_t idx);

typedef int (*api_query_fn)(struct api_call *call, const struct api_params *params,
                            struct buf *result);
struct api_query_op {
    const char *action; /* "GetCallerIdentity" */
    api_query_fn fn;    /* writes the inside of <ActionResult> */
    const void *arg;    /* the op's own data, handed to fn as call->op_arg; may be NULL */
};
struct api_query_service {
    const char *signing_name; /* "sts" */
    const char *xmlns;        /* "https://sts.amazonaws.com/doc/2011-06-15/" */
    const struct api_query_op *ops;
    size_t n_ops;
    void *ctx;
};

/* ---- rest-xml (S3) ---- */
typedef int (*api_rest_fn)(struct api_call *call);
struct api_rest_service {
    const char *signing_name; /* "s3" */
    /* The bucket a virtual-hosted Host header names (malloc'd, the caller frees it), or
       NULL for path style; used by SigV2, which signs the bucket. May be NULL. */
    char *(*host_bucket)(const char *host);
    api_rest_fn handle;
    void *ctx;
};

/* The set of services the front end routes to; built before the server starts. */
struct api_registry;
struct api_registry *api_registry_create(void);
void api_registry_destroy(struct api_registry *reg);
/*
 * Adds a service description. Each API adapter makes its own with <service>_api_create
 * (owned by the caller, freed with <service>_api_destroy): the registry borrows it, so
 * it must outlive the registry.
 */
void api_registry_add_json(struct api_registry *reg, const struct api_json_service *svc);
void api_registry_add_query(struct api_registry *reg, const struct api_query_service *svc);
void api_registry_add_rest(struct api_registry *reg, const struct api_rest_service *svc);

/*
 * Plain HTTP: a GET (or HEAD) of one fixed path that carries no SigV4 signature is the
 * service's, outside SigV4 (Prometheus' /metrics: scrapers cannot sign). A signed
 * request to the same path goes to the AWS services as before (S3's bucket of that
 * name). fn fills resp (status, headers, body) and checks any credentials itself.
 */
struct api_plain_service {
    const char *path; /* "/metrics" */
    void (*fn)(void *ctx, const struct api_request *req, struct api_response *resp);
    void *ctx;
};
void api_registry_add_plain(struct api_registry *reg, const struct api_plain_service *svc);

/* Told of every answered request: the routed service's signing name ("" when none),
   the operation (NULL when none was found), the status and the handling time. */
typedef void (*api_observe_fn)(void *arg, const char *service, const char *operation,
                               int status, int64_t elapsed_us);
void api_registry_observe(struct api_registry *reg, api_observe_fn fn, void *arg);

/* The same, with what S3's request metrics need besides: a second observer, told after
   the first. bucket is resp.metrics_bucket (NULL when ""); bytes_in the request body's
   length (its payload's when aws-chunked), bytes_out the response body's (0 for HEAD
   and event streams). */
struct api_observation {
    const char *service;
    const char *operation; /* NULL when none was found */
    const char *method;
    int status;
    int64_t elapsed_us;
    const char *bucket;
    const char *bucket_operation; /* resp.metrics_operation: S3's own name of it */
    const char *key;              /* resp.metrics_key: the object's, NULL when none */
    uint64_t bytes_in, bytes_out;
};
typedef void (*api_observe_detail_fn)(void *arg, const struct api_observation *o);
void api_registry_observe_detail(struct api_registry *reg, api_observe_detail_fn fn, void *arg);

#endif
