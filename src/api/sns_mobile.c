/*-------------------------------------------------------------------------
 *
 * sns_mobile.c
 *	  The mobile push actions of the endpoint's SNS service: platform
 *	  applications and platform endpoints.
 *
 * As in sns.c, each action calls the SQL function that does the work
 * (sqsn.sn_*platform*, push/platform.c) through SPI as the request's role
 * and only translates between the wire form and that call. Attributes
 * travel as Attributes.entry.N.key / .value maps both ways. The lists page
 * by 100 with NextToken being the offset of the next page. Publishing to
 * an endpoint (Publish with TargetArn) is sns.c's Publish.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "api/api.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"

#define PAGE_SIZE 100

static SqsnStatement create_application_stmt = {
	"SELECT sqsn.sn_create_platform_application($1, $2, $3)",
	3,
	{TEXTOID, TEXTOID, JSONBOID},
	SPI_OK_SELECT,
	"creating a platform application"};

static SqsnStatement get_application_stmt = {
	"SELECT sqsn.sn_get_platform_application_attributes($1)",
	1,
	{TEXTOID},
	SPI_OK_SELECT,
	"reading a platform application"};

static SqsnStatement set_application_stmt = {
	"SELECT sqsn.sn_set_platform_application_attributes($1, $2)",
	2,
	{TEXTOID, JSONBOID},
	SPI_OK_SELECT,
	"changing a platform application"};

static SqsnStatement delete_application_stmt = {
	"SELECT sqsn.sn_delete_platform_application($1)",
	1,
	{TEXTOID},
	SPI_OK_SELECT,
	"deleting a platform application"};

static SqsnStatement list_applications_stmt = {
	"SELECT platform_application_arn, attributes"
	" FROM sqsn.sn_list_platform_applications() OFFSET $1 LIMIT 101",
	1,
	{INT8OID},
	SPI_OK_SELECT,
	"listing platform applications"};

static SqsnStatement create_endpoint_stmt = {
	"SELECT sqsn.sn_create_platform_endpoint($1, $2, $3, $4)",
	4,
	{TEXTOID, TEXTOID, TEXTOID, JSONBOID},
	SPI_OK_SELECT,
	"creating a platform endpoint"};

static SqsnStatement get_endpoint_stmt = {
	"SELECT sqsn.sn_get_endpoint_attributes($1)",
	1,
	{TEXTOID},
	SPI_OK_SELECT,
	"reading a platform endpoint"};

static SqsnStatement set_endpoint_stmt = {
	"SELECT sqsn.sn_set_endpoint_attributes($1, $2)",
	2,
	{TEXTOID, JSONBOID},
	SPI_OK_SELECT,
	"changing a platform endpoint"};

static SqsnStatement delete_endpoint_stmt = {
	"SELECT sqsn.sn_delete_endpoint($1)",
	1,
	{TEXTOID},
	SPI_OK_SELECT,
	"deleting a platform endpoint"};

static SqsnStatement list_endpoints_stmt = {
	"SELECT endpoint_arn, attributes"
	" FROM sqsn.sn_list_endpoints_by_platform_application($1)"
	" OFFSET $2 LIMIT 101",
	2,
	{TEXTOID, INT8OID},
	SPI_OK_SELECT,
	"listing platform endpoints"};

static void create_platform_application(ApiRequest *req);
static void get_platform_application_attributes(ApiRequest *req);
static void set_platform_application_attributes(ApiRequest *req);
static void delete_platform_application(ApiRequest *req);
static void list_platform_applications(ApiRequest *req);
static void create_platform_endpoint(ApiRequest *req);
static void get_endpoint_attributes(ApiRequest *req);
static void set_endpoint_attributes(ApiRequest *req);
static void delete_endpoint(ApiRequest *req);
static void list_endpoints_by_platform_application(ApiRequest *req);

static const ApiAction actions[] = {
	{"CreatePlatformApplication", create_platform_application, true},
	{"GetPlatformApplicationAttributes", get_platform_application_attributes,
	 false},
	{"SetPlatformApplicationAttributes", set_platform_application_attributes,
	 true},
	{"DeletePlatformApplication", delete_platform_application, true},
	{"ListPlatformApplications", list_platform_applications, false},
	{"CreatePlatformEndpoint", create_platform_endpoint, true},
	{"GetEndpointAttributes", get_endpoint_attributes, false},
	{"SetEndpointAttributes", set_endpoint_attributes, true},
	{"DeleteEndpoint", delete_endpoint, true},
	{"ListEndpointsByPlatformApplication",
	 list_endpoints_by_platform_application, false},
};

/* Runs a mobile push action; false when req->action is not one. */
bool
api_sns_mobile_dispatch(ApiRequest *req)
{
	return api_run_action(req, actions, lengthof(actions));
}

/* The request's Attributes map as a JSON object of strings. */
static Jsonb *
attributes_param(ApiRequest *req)
{
	return api_params_jsonb(
		api_map(&req->root, "Attributes", "Attributes.entry", "key", "value"));
}

/* Writes a jsonb object of strings as an <Attributes> map. */
static void
write_attributes(StringInfo out, Jsonb *attributes)
{
	JsonbIterator *it = JsonbIteratorInit(&attributes->root);
	JsonbValue     v;
	char          *key = NULL;

	appendStringInfoString(out, "<Attributes>");
	while (sqsn_jsonb_next_pair(&it, &key, &v))
	{
		char *value = api_json_text(&v);

		appendStringInfoString(out, "<entry>");
		api_xml_element(out, "key", key);
		api_xml_element(out, "value", value ? value : "");
		appendStringInfoString(out, "</entry>");
	}
	appendStringInfoString(out, "</Attributes>");
}

/* The first column of the one row of the last statement, as jsonb. */
static Jsonb *
jsonb_column(int column)
{
	if (SPI_processed < 1)
		elog(ERROR, "mobile push function returned no row");
	return sqsn_spi_jsonb(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
						  column);
}

/* NextToken: the offset of the next page, or 0. */
static int64
page_offset(ApiRequest *req)
{
	const char *token = api_param(&req->root, "NextToken");

	if (token == NULL || token[0] == '\0')
		return 0;
	if (strspn(token, "0123456789") != strlen(token) || strlen(token) > 18)
		api_error("InvalidParameter", 400,
				  "Invalid parameter: NextToken Reason: \"%s\" is not a token "
				  "this endpoint returned",
				  token);
	return strtoll(token, NULL, 10);
}

/*
 * Writes a page of (ARN, attributes) rows as <list><member><arn_element>
 * ... <Attributes/></member></list>, and NextToken when more follow.
 */
static void
write_page(ApiRequest *req, const char *list, const char *arn_element,
		   int64 offset)
{
	appendStringInfo(req->out, "<%s>", list);
	for (uint64 i = 0; i < Min(SPI_processed, PAGE_SIZE); i++)
	{
		HeapTuple tuple = SPI_tuptable->vals[i];
		TupleDesc desc = SPI_tuptable->tupdesc;

		appendStringInfoString(req->out, "<member>");
		api_xml_element(req->out, arn_element, SPI_getvalue(tuple, desc, 1));
		write_attributes(req->out, sqsn_spi_jsonb(tuple, desc, 2));
		appendStringInfoString(req->out, "</member>");
	}
	appendStringInfo(req->out, "</%s>", list);
	if (SPI_processed > PAGE_SIZE)
		api_xml_element(req->out, "NextToken",
						psprintf(INT64_FORMAT, offset + PAGE_SIZE));
}

/* CreatePlatformApplication: Name, Platform, Attributes. */
static void
create_platform_application(ApiRequest *req)
{
	Datum values[3];

	values[0] = CStringGetTextDatum(api_required_param(&req->root, "Name"));
	values[1] =
		CStringGetTextDatum(api_required_param(&req->root, "Platform"));
	values[2] = JsonbPGetDatum(attributes_param(req));
	sqsn_execute(&create_application_stmt, values, NULL, 0);
	api_xml_element(
		req->out, "PlatformApplicationArn",
		SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1));
}

/* GetPlatformApplicationAttributes: PlatformApplicationArn. */
static void
get_platform_application_attributes(ApiRequest *req)
{
	Datum value = CStringGetTextDatum(
		api_required_param(&req->root, "PlatformApplicationArn"));

	sqsn_execute(&get_application_stmt, &value, NULL, 0);
	write_attributes(req->out, jsonb_column(1));
}

/* SetPlatformApplicationAttributes: PlatformApplicationArn, Attributes. */
static void
set_platform_application_attributes(ApiRequest *req)
{
	Datum values[2];

	values[0] = CStringGetTextDatum(
		api_required_param(&req->root, "PlatformApplicationArn"));
	values[1] = JsonbPGetDatum(attributes_param(req));
	sqsn_execute(&set_application_stmt, values, NULL, 0);
}

/* DeletePlatformApplication: PlatformApplicationArn. */
static void
delete_platform_application(ApiRequest *req)
{
	Datum value = CStringGetTextDatum(
		api_required_param(&req->root, "PlatformApplicationArn"));

	sqsn_execute(&delete_application_stmt, &value, NULL, 0);
}

/* ListPlatformApplications: NextToken. */
static void
list_platform_applications(ApiRequest *req)
{
	int64 offset = page_offset(req);
	Datum value = Int64GetDatum(offset);

	sqsn_execute(&list_applications_stmt, &value, NULL, 0);
	write_page(req, "PlatformApplications", "PlatformApplicationArn", offset);
}

/*
 * CreatePlatformEndpoint: PlatformApplicationArn, Token, CustomUserData,
 * Attributes.
 */
static void
create_platform_endpoint(ApiRequest *req)
{
	const char *custom = api_param(&req->root, "CustomUserData");
	Datum       values[4];
	char        nulls[4] = {' ', ' ', ' ', ' '};

	values[0] = CStringGetTextDatum(
		api_required_param(&req->root, "PlatformApplicationArn"));
	values[1] = CStringGetTextDatum(api_required_param(&req->root, "Token"));
	values[2] = custom ? CStringGetTextDatum(custom) : (Datum) 0;
	nulls[2] = custom ? ' ' : 'n';
	values[3] = JsonbPGetDatum(attributes_param(req));
	sqsn_execute(&create_endpoint_stmt, values, nulls, 0);
	api_xml_element(
		req->out, "EndpointArn",
		SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1));
}

/* GetEndpointAttributes: EndpointArn. */
static void
get_endpoint_attributes(ApiRequest *req)
{
	Datum value =
		CStringGetTextDatum(api_required_param(&req->root, "EndpointArn"));

	sqsn_execute(&get_endpoint_stmt, &value, NULL, 0);
	write_attributes(req->out, jsonb_column(1));
}

/* SetEndpointAttributes: EndpointArn, Attributes. */
static void
set_endpoint_attributes(ApiRequest *req)
{
	Datum values[2];

	values[0] =
		CStringGetTextDatum(api_required_param(&req->root, "EndpointArn"));
	values[1] = JsonbPGetDatum(attributes_param(req));
	sqsn_execute(&set_endpoint_stmt, values, NULL, 0);
}

/* DeleteEndpoint: EndpointArn. */
static void
delete_endpoint(ApiRequest *req)
{
	Datum value =
		CStringGetTextDatum(api_required_param(&req->root, "EndpointArn"));

	sqsn_execute(&delete_endpoint_stmt, &value, NULL, 0);
}

/* ListEndpointsByPlatformApplication: PlatformApplicationArn, NextToken. */
static void
list_endpoints_by_platform_application(ApiRequest *req)
{
	int64 offset = page_offset(req);
	Datum values[2];

	values[0] = CStringGetTextDatum(
		api_required_param(&req->root, "PlatformApplicationArn"));
	values[1] = Int64GetDatum(offset);
	sqsn_execute(&list_endpoints_stmt, values, NULL, 0);
	write_page(req, "Endpoints", "EndpointArn", offset);
}
