/* libFuzzer target: the AWS XML answers (providers/aws): the error body of EC2 and S3
 * (aws_parse_error), the EC2 element lookup, the import-task and instance parsers, and the
 * base64 console output. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "providers/aws/aws.h"
#include "providers/aws/ec2.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const names[] = {"instanceId", "imageId",  "importTaskId",
	                                    "output",     "UploadId", "Code"};
	const char *xml = (const char *)data;
	struct ec2_import_task t;
	struct ec2_instance inst;
	struct unik_error err;
	char *code = NULL, *message = NULL, *text, *out;
	size_t len;

	aws_parse_error(xml, size, &code, &message);
	free(code);
	free(message);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		text = aws_ec2_xml_text(xml, size, names[i]);
		if (text && !strcmp(names[i], "output") && aws_base64_decode(text, &out, &len) == 0)
			free(out);
		free(text);
	}
	aws_ec2_parse_import_task(xml, size, &t, &err);
	aws_ec2_parse_instance(xml, size, &inst, &err);
	return 0;
}
