/* libFuzzer target: the AWS XML answers (providers/aws): the error body of EC2 and S3
 * (aws_parse_error), the EC2 element lookup (with the base64 console output), and the
 * import-task and instance parsers.  Each of them parses the whole document, so the first byte
 * picks one (its value modulo 9, see `calls`) and the rest is the XML: one parse per input
 * keeps libxml2's cost to a ninth. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "providers/aws/aws.h"
#include "providers/aws/ec2.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* 0-5: aws_ec2_xml_text of these names; 6: error; 7: import task; 8: instance. */
	static const char *const names[] = {"instanceId", "imageId",  "importTaskId",
	                                    "output",     "UploadId", "Code"};
	struct ec2_import_task t;
	struct ec2_instance inst;
	struct unik_error err;
	char *code = NULL, *message = NULL, *text, *out;
	const char *xml;
	unsigned which;
	size_t len;

	if (size < 1)
		return 0;
	which = data[0] % 9;
	xml = (const char *)data + 1;
	size--;
	switch (which) {
	case 6:
		aws_parse_error(xml, size, &code, &message);
		free(code);
		free(message);
		break;
	case 7:
		aws_ec2_parse_import_task(xml, size, &t, &err);
		break;
	case 8:
		aws_ec2_parse_instance(xml, size, &inst, &err);
		break;
	default:
		text = aws_ec2_xml_text(xml, size, names[which]);
		if (text && which == 3 && aws_base64_decode(text, &out, &len) == 0)
			free(out);
		free(text);
	}
	return 0;
}
