/*
 * The error space.
 *
 * Functions return 0 on success or a negative code: either -errno (from the OS) or one
 * of Sluice's codes below, which live in a range apart from errno. Each Sluice code
 * carries the AWS error name and HTTP status a protocol renders by default; the HTTP
 * layer may rename the authentication errors per protocol, since S3, the query
 * services and the JSON services spell them differently.
 *
 * Detail travels in a struct err_info owned by the caller, never in a global.
 */
#ifndef SLUICE_CORE_ERR_H
#define SLUICE_CORE_ERR_H

#include <stdarg.h>

/* X(symbol, AWS error name, HTTP status) */
#define SL_ERROR_MAP(X)                                                                            \
    /* generic */                                                                                  \
    X(INTERNAL, "InternalFailure", 500)                                                            \
    X(UNAVAILABLE, "ServiceUnavailable", 503)                                                      \
    X(CORRUPT, "InternalFailure", 500)                                                             \
    X(IO, "InternalFailure", 500)                                                                  \
    X(NOMEM, "InternalFailure", 500)                                                               \
    X(VALIDATION, "ValidationException", 400)                                                      \
    X(SERIALIZATION, "SerializationException", 400)                                                \
    X(UNKNOWN_OPERATION, "UnknownOperationException", 400)                                         \
    X(BODY_TOO_LARGE, "RequestEntityTooLargeException", 413)                                       \
    X(ACCESS_DENIED, "AccessDeniedException", 400)                                                 \
    /* authentication; protocols rename these */                                                   \
    X(AUTH_MISSING, "MissingAuthenticationTokenException", 400)                                    \
    X(AUTH_UNKNOWN_KEY, "UnrecognizedClientException", 400)                                        \
    X(AUTH_BAD_SIGNATURE, "InvalidSignatureException", 400)                                        \
    X(AUTH_SKEWED, "InvalidSignatureException", 400)                                               \
    X(AUTH_EXPIRED, "ExpiredTokenException", 400)                                                  \
    X(AUTH_MALFORMED, "IncompleteSignatureException", 400)                                         \
    /* query protocol (IAM, STS) */                                                                \
    X(INVALID_ACTION, "InvalidAction", 400)                                                        \
    X(MISSING_PARAMETER, "MissingParameter", 400)                                                  \
    X(INVALID_PARAMETER_VALUE, "InvalidParameterValue", 400)                                       \
    X(INVALID_PARAMETER_COMBINATION, "InvalidParameterCombination", 400)                           \
    X(INVALID_NEXT_TOKEN, "InvalidNextToken", 400)                                                 \
    /* Kinesis */                                                                                  \
    X(RESOURCE_NOT_FOUND, "ResourceNotFoundException", 400)                                        \
    X(RESOURCE_IN_USE, "ResourceInUseException", 400)                                              \
    X(ATHENA_INVALID_REQUEST, "InvalidRequestException", 400)                                      \
    X(ATHENA_METADATA, "MetadataException", 400)                                                   \
    X(INVALID_ARGUMENT, "InvalidArgumentException", 400)                                           \
    X(LIMIT_EXCEEDED, "LimitExceededException", 400)                                               \
    X(EXPIRED_ITERATOR, "ExpiredIteratorException", 400)                                           \
    X(EXPIRED_NEXT_TOKEN, "ExpiredNextTokenException", 400)                                        \
    X(THROUGHPUT_EXCEEDED, "ProvisionedThroughputExceededException", 400)                          \
    X(KINESIS_KMS_NOT_FOUND, "KMSNotFoundException", 400)                                          \
    X(KINESIS_KMS_DISABLED, "KMSDisabledException", 400)                                           \
    X(KINESIS_KMS_ACCESS_DENIED, "KMSAccessDeniedException", 400)                                  \
    /* S3 */                                                                                       \
    X(NO_SUCH_BUCKET, "NoSuchBucket", 404)                                                         \
    X(NO_SUCH_KEY, "NoSuchKey", 404)                                                               \
    X(NO_SUCH_UPLOAD, "NoSuchUpload", 404)                                                         \
    X(NO_SUCH_BUCKET_POLICY, "NoSuchBucketPolicy", 404)                                            \
    X(NO_SUCH_TAG_SET, "NoSuchTagSet", 404)                                                        \
    X(BUCKET_ALREADY_OWNED, "BucketAlreadyOwnedByYou", 409)                                        \
    X(BUCKET_ALREADY_EXISTS, "BucketAlreadyExists", 409)                                           \
    X(BUCKET_NOT_EMPTY, "BucketNotEmpty", 409)                                                     \
    X(INVALID_BUCKET_NAME, "InvalidBucketName", 400)                                               \
    X(INVALID_RANGE, "InvalidRange", 416)                                                          \
    X(PRECONDITION_FAILED, "PreconditionFailed", 412)                                              \
    X(NOT_MODIFIED, "NotModified", 304)                                                            \
    X(ENTITY_TOO_LARGE, "EntityTooLarge", 400)                                                     \
    X(ENTITY_TOO_SMALL, "EntityTooSmall", 400)                                                     \
    X(INVALID_PART, "InvalidPart", 400)                                                            \
    X(INVALID_PART_ORDER, "InvalidPartOrder", 400)                                                 \
    X(INVALID_DIGEST, "InvalidDigest", 400)                                                        \
    X(BAD_DIGEST, "BadDigest", 400)                                                                \
    X(INVALID_REQUEST, "InvalidRequest", 400)                                                      \
    X(INVALID_ARGUMENT_S3, "InvalidArgument", 400)                                                 \
    X(MALFORMED_XML, "MalformedXML", 400)                                                          \
    X(MALFORMED_POLICY, "MalformedPolicy", 400)                                                    \
    X(METHOD_NOT_ALLOWED, "MethodNotAllowed", 405)                                                 \
    X(NOT_IMPLEMENTED, "NotImplemented", 501)                                                      \
    X(MISSING_CONTENT_LENGTH, "MissingContentLength", 411)                                         \
    X(INCOMPLETE_BODY, "IncompleteBody", 400)                                                      \
    X(SIGNATURE_DOES_NOT_MATCH, "SignatureDoesNotMatch", 403)                                      \
    X(S3_ACCESS_DENIED, "AccessDenied", 403)                                                       \
    X(CONTENT_SHA256_MISMATCH, "XAmzContentSHA256Mismatch", 400)                                   \
    X(KEY_TOO_LONG, "KeyTooLongError", 400)                                                        \
    X(INVALID_PART_NUMBER, "InvalidPartNumber", 416)                                               \
    X(NO_SUCH_CORS, "NoSuchCORSConfiguration", 404)                                                \
    X(S3_CORS_FORBIDDEN, "AccessForbidden", 403)                                                   \
    X(S3_BAD_REQUEST, "BadRequest", 400)                                                           \
    X(NO_SUCH_PUBLIC_ACCESS_BLOCK, "NoSuchPublicAccessBlockConfiguration", 404)                    \
    X(NO_OWNERSHIP_CONTROLS, "OwnershipControlsNotFoundError", 404)                                \
    X(ACL_NOT_SUPPORTED, "AccessControlListNotSupported", 400)                                     \
    X(INVALID_BUCKET_ACL_OWNERSHIP, "InvalidBucketAclWithObjectOwnership", 400)                    \
    X(INVALID_POLICY_DOCUMENT, "InvalidPolicyDocument", 400)                                       \
    X(S3_MISSING_FIELDS, "MissingFields", 400)                                                     \
    X(MALFORMED_POST, "MalformedPOSTRequest", 400)                                                 \
    X(NO_SUCH_VERSION, "NoSuchVersion", 404)                                                       \
    X(INVALID_BUCKET_STATE, "InvalidBucketState", 409)                                             \
    X(CONDITIONAL_REQUEST_CONFLICT, "ConditionalRequestConflict", 409)                             \
    X(LOCK_CONFIG_NOT_FOUND, "ObjectLockConfigurationNotFoundError", 404)                          \
    X(NO_SUCH_LOCK_CONFIG, "NoSuchObjectLockConfiguration", 404)                                   \
    /* Glue */                                                                                     \
    X(ENTITY_NOT_FOUND, "EntityNotFoundException", 400)                                            \
    X(ALREADY_EXISTS, "AlreadyExistsException", 400)                                               \
    X(INVALID_INPUT, "InvalidInputException", 400)                                                 \
    X(RESOURCE_NUMBER_LIMIT, "ResourceNumberLimitExceededException", 400)                          \
    X(CONCURRENT_MODIFICATION, "ConcurrentModificationException", 400)                             \
    X(GLUE_ENCRYPTION, "GlueEncryptionException", 400)                                             \
    X(INTERNAL_SERVICE, "InternalServiceException", 500)                                           \
    X(OPERATION_TIMEOUT, "OperationTimeoutException", 400)                                         \
    /* KMS */                                                                                      \
    X(KMS_NOT_FOUND, "NotFoundException", 400)                                                     \
    X(KMS_DISABLED, "DisabledException", 400)                                                      \
    X(KMS_INVALID_STATE, "KMSInvalidStateException", 400)                                          \
    X(KMS_INVALID_CIPHERTEXT, "InvalidCiphertextException", 400)                                   \
    X(KMS_INVALID_ALIAS, "InvalidAliasNameException", 400)                                         \
    X(KMS_INVALID_ARN, "InvalidArnException", 400)                                                 \
    X(KMS_MALFORMED_POLICY, "MalformedPolicyDocumentException", 400)                               \
    X(KMS_TAG, "TagException", 400)                                                                \
    X(KMS_INVALID_MARKER, "InvalidMarkerException", 400)                                           \
    X(KMS_INCORRECT_KEY, "IncorrectKeyException", 400)                                             \
    X(KMS_UNSUPPORTED, "UnsupportedOperationException", 400)                                       \
    /* IAM */                                                                                      \
    X(IAM_NO_SUCH_ENTITY, "NoSuchEntity", 404)                                                     \
    X(IAM_ENTITY_EXISTS, "EntityAlreadyExists", 409)                                               \
    X(IAM_DELETE_CONFLICT, "DeleteConflict", 409)                                                  \
    X(IAM_LIMIT_EXCEEDED, "LimitExceeded", 409)                                                    \
    X(IAM_MALFORMED_POLICY, "MalformedPolicyDocument", 400)                                        \
    X(INVALID_INPUT_IAM, "InvalidInput", 400)                                                      \
    X(STS_PACKED_POLICY_TOO_LARGE, "PackedPolicyTooLarge", 400)                                    \
    /* CloudWatch */                                                                               \
    X(CW_RESOURCE_NOT_FOUND, "ResourceNotFound", 404)                                              \
    X(CW_INVALID_FORMAT, "InvalidFormat", 400)                                                     \
    X(CW_VALIDATION, "ValidationError", 400)                                                       \
    /* S3: KMS errors met while encrypting or decrypting an object */                              \
    X(S3_KMS_NOT_FOUND, "KMS.NotFoundException", 400)                                              \
    X(S3_KMS_DISABLED, "KMS.DisabledException", 400)                                               \
    X(S3_KMS_INVALID_STATE, "KMS.KMSInvalidStateException", 400)                                   \
    X(NO_SUCH_LIFECYCLE, "NoSuchLifecycleConfiguration", 404)                                      \
    X(INVALID_STORAGE_CLASS, "InvalidStorageClass", 400)                                           \
    X(INVALID_OBJECT_STATE, "InvalidObjectState", 403)                                             \
    X(RESTORE_IN_PROGRESS, "RestoreAlreadyInProgress", 409)                                        \
    X(NO_SUCH_CONFIGURATION, "NoSuchConfiguration", 404)                                           \
    X(TOO_MANY_CONFIGURATIONS, "TooManyConfigurations", 400)

#define SL_ERR_BASE 20000

enum sl_error {
    SL_ERR_FIRST_ = SL_ERR_BASE - 1,
#define SL_ERR_ENUM(sym, name, status) SL_E_##sym##_,
    SL_ERROR_MAP(SL_ERR_ENUM)
#undef SL_ERR_ENUM
        SL_ERR_LAST_
};

/* The negative codes functions return: SL_E(NO_SUCH_KEY) and so on. */
#define SL_E(sym) (-(int)SL_E_##sym##_)

/* Detail of a failure: the code and a human message, as AWS would word it. */
struct err_info {
    int code;          /* 0 or a negative code */
    char message[512]; /* the message a client sees; "" when none */
};

/* Records code and message in *info (which may be NULL) and returns code. */
int err_set(struct err_info *info, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void err_clear(struct err_info *info);

/* Text for any code, Sluice's or -errno. Never NULL. */
const char *sl_strerror(int code);
/* The AWS error name and HTTP status for a Sluice code; InternalFailure/500 otherwise. */
const char *err_aws_name(int code);
int err_http_status(int code);
/* 1 when code is one of Sluice's, 0 for -errno and anything else. */
int err_is_sluice(int code);

#endif
