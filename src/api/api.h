/*-------------------------------------------------------------------------
 *
 * api.h
 *	  The AWS-compatible HTTP endpoint: what the server (server.c), its
 *	  HTTPS set-up (tls.c), the request and response helpers (proto.c),
 *	  authentication (auth.c) and the SQS and SNS actions (sqs.c, sns.c,
 *	  sns_mobile.c) share.
 *
 * A request is read whole by server.c, authenticated, and then run in
 * its own transaction as the PostgreSQL role its access key maps to. An
 * action reads its parameters through ApiObject (the same calls whatever
 * the wire protocol), calls the sqsn SQL functions through SPI, and writes
 * its result members into req->out. Errors are thrown: api_error() for the
 * endpoint's own checks, or any ereport(ERROR) from the SQL functions,
 * which the service's error mapper turns into an AWS error code.
 *
 *-------------------------------------------------------------------------
 */
#ifndef SQSN_API_H
#define SQSN_API_H

#include "topic/topic.h"

#include "nodes/pg_list.h"

typedef enum ApiProtocol
{
	API_QUERY, /* form-urlencoded (POST body or GET query), XML responses */
	API_JSON,  /* AWS JSON 1.0 (SQS only) */
} ApiProtocol;

typedef enum ApiService
{
	API_SQS,
	API_SNS,
} ApiService;

/* One decoded name=value pair of a query request. */
typedef struct ApiParam
{
	char *name;
	char *value;
} ApiParam;

/*
 * The request itself or one nested structure of it (a batch entry, a map
 * entry, a message attribute). Query: params holds the pairs under this
 * object with the object's prefix removed ("Id", "MessageBody", ...).
 * JSON: json is the object's container.
 */
typedef struct ApiObject
{
	ApiProtocol     protocol;
	List           *params; /* of ApiParam *, query only */
	JsonbContainer *json;   /* JSON only */
} ApiObject;

/* JSON writer nesting: does the current level need a comma first? */
#define API_MAX_DEPTH 16

typedef struct ApiRequest
{
	ApiProtocol protocol;
	ApiService  service;
	const char *action;        /* "SendMessage", "Publish", ... */
	ApiObject   root;          /* the request's parameters */
	const char *method;        /* "GET" or "POST" */
	const char *path;          /* the request path, percent-decoded */
	const char *base_url;      /* "http://<Host header>", no trailing / */
	const char *access_key_id; /* NULL when the request was not signed */
	const char *request_id;    /* a UUID, echoed in every response */
	const char *trace_header;  /* its X-Amzn-Trace-Id header, or NULL */
	Oid         roleid;        /* the role the request runs as */

	/* the response: result members only; server.c wraps them */
	StringInfo out;
	int        depth;
	bool       need_comma[API_MAX_DEPTH];

	/* set by an SQS ReceiveMessage that found nothing and may wait */
	int64 wait_queue_id;
	int   wait_ms;
} ApiRequest;

/*
 * Thrown by api_error() and by the error mappers: the AWS error code, the
 * HTTP status, and for JSON the modeled shape name (__type).
 */
typedef struct ApiError
{
	const char *code;   /* query code / x-amzn-query-error code */
	const char *shape;  /* JSON __type; NULL: same as code */
	int         status; /* 400, 403, 404, 500 ... */
} ApiError;

/*
 * An action of a service, by its name in requests (sqs.c, sns.c). A
 * standby serves only the actions that do not write.
 */
typedef struct ApiAction
{
	const char *name; /* "SendMessage", "Publish", ... */
	void (*run)(ApiRequest *req);
	bool writes;
} ApiAction;

/* proto.c: parameters */
extern const char *api_param(ApiObject *obj, const char *name);
extern const char *api_required_param(ApiObject *obj, const char *name);
extern bool   api_param_int(ApiObject *obj, const char *name, int min, int max,
							int *result);
extern bool   api_param_bool(ApiObject *obj, const char *name, bool *result);
extern List  *api_objects(ApiObject *obj, const char *json_name,
						  const char *query_prefix);
extern List  *api_strings(ApiObject *obj, const char *json_name,
						  const char *query_prefix);
extern List  *api_map(ApiObject *obj, const char *json_name,
					  const char *query_prefix, const char *key_member,
					  const char *value_member);
extern Jsonb *api_message_attributes(ApiObject *obj, const char *json_name,
									 const char *query_prefix,
									 const char *name_member,
									 const char *value_member);
extern char  *api_json_text(JsonbValue *v);

/* proto.c: errors */
pg_noreturn extern void api_error_shape(const char *code, const char *shape,
										int status, const char *fmt, ...)
	pg_attribute_printf(4, 5);

/* api_error_shape for an error whose JSON __type is its code */
#define api_error(code, status, ...)                                          \
	api_error_shape(code, NULL, status, __VA_ARGS__)
extern bool api_thrown_error(ApiError *err);

/* proto.c: response writing */
extern void  api_xml_escape(StringInfo buf, const char *s);
extern void  api_xml_element(StringInfo buf, const char *name,
							 const char *value);
extern void  api_out_string(ApiRequest *req, const char *name,
							const char *value);
extern void  api_out_bool(ApiRequest *req, const char *name, bool value);
extern void  api_out_number(ApiRequest *req, const char *name,
							const char *digits);
extern void  api_out_begin_object(ApiRequest *req, const char *json_name,
								  const char *xml_element);
extern void  api_out_end_object(ApiRequest *req, const char *xml_element);
extern void  api_out_begin_array(ApiRequest *req, const char *json_name);
extern void  api_out_end_array(ApiRequest *req);
extern void  api_out_array_string(ApiRequest *req, const char *xml_element,
								  const char *value);
extern void  api_out_map_pair(ApiRequest *req, const char *xml_element,
							  const char *key_member,
							  const char *value_member, const char *key,
							  const char *value);
extern Jsonb *api_params_jsonb(List *params);
extern Datum  api_strings_array(List *strings);
extern void  api_out_map_entry(ApiRequest *req, const char *xml_element,
							   const char *key, const char *value);
extern char *api_md5_hex(const char *data, size_t len);
extern char *api_md5_of_attributes(Jsonb *attributes);

/* proto.c: actions */
extern bool api_run_action(ApiRequest *req, const ApiAction *actions, int n);

/* auth.c */
extern char *api_sigv4_canonical_request(const char *method, const char *path,
										 List *query_params, bool presigned,
										 List *headers,
										 const char *signed_headers,
										 const char *payload_hash);
extern void api_authenticate(ApiRequest *req, const char *method,
							 const char *path, List *query_params,
							 List *headers, const char *body, size_t body_len);
extern bool api_auth_is_none(void);
extern void ApiAuthInit(void); /* its GUCs; called by ApiInit */

/* sqs.c and sns.c: run the action; false if it is unknown */
extern bool api_sqs_dispatch(ApiRequest *req);
/* sns_mobile.c: the mobile push actions, part of the SNS service */
extern bool api_sns_mobile_dispatch(ApiRequest *req);
extern bool api_sns_dispatch(ApiRequest *req);
extern void api_sqs_map_error(ErrorData *edata, ApiError *err);
extern void api_sns_map_error(ErrorData *edata, ApiError *err);

/* server.c */
extern void  ApiInit(void);
extern List *api_parse_form(const char *body, size_t len);

/* tls.c (struct MHD_OptionItem: microhttpd.h) */
struct MHD_OptionItem;
extern char        *api_tls_problem(void);
extern unsigned int api_tls_options(struct MHD_OptionItem *options);

/*
 * A request for one of the endpoint's own pages (pages.c): /metrics and
 * /dashboard. Headers are ApiParams with lower-case names.
 */
typedef struct ApiPageRequest
{
	const char *method;
	const char *path;
	List       *headers;
	List       *query;
	const char *body; /* NULL when too large */
	size_t      body_len;
	bool        too_large;
	bool        loopback_client;
} ApiPageRequest;

typedef struct ApiPageResponse
{
	int         status;
	const char *content_type;
	StringInfo  body;
	List       *headers; /* of ApiParam */
} ApiPageResponse;

/* trace.c */
extern const char *api_trace_header(ApiRequest *req, ApiObject *obj);
extern Jsonb      *api_with_trace_header(Jsonb *attributes, const char *trace);
extern void        api_out_trace_md5(ApiRequest *req, const char *trace);

/* pages.c */
extern void        ApiPagesInit(void);
extern bool        api_is_page(const char *path);
extern void        api_page_run(ApiPageRequest *req, ApiPageResponse *resp);
extern const char *api_page_header(ApiPageRequest *req, const char *name);
extern void        api_page_add_header(ApiPageResponse *resp, const char *name,
									   const char *value);
extern void        api_page_text(ApiPageResponse *resp, int status,
								 const char *content_type, const char *text);

/* prometheus.c */
extern void ApiPrometheusInit(void);
extern void api_prometheus(ApiPageRequest *req, ApiPageResponse *resp);

/* dashboard.c */
extern void ApiDashboardInit(void);
extern void api_dashboard(ApiPageRequest *req, ApiPageResponse *resp);

/* auth.c: the dashboard's sign-in */
extern Oid api_check_secret(const char *access_key_id, const char *secret);
extern Oid api_key_role(const char *access_key_id);

#endif /* SQSN_API_H */
