/*
 * CBOR through Jackson's CBOR module, the library the AWS SDK for Java (and so the KCL
 * and KPL) writes and reads Kinesis's CBOR with, for test_kinesis_protocol.py:
 *   encode  JSON on stdin to CBOR on stdout, written as the SDK writes it (maps and arrays
 *           of indefinite length); {"$bytes": base64} is a byte string and
 *           {"$epoch": milliseconds} a tag 1 epoch;
 *   decode  CBOR on stdin to JSON on stdout, byte strings as {"$bytes": base64} and
 *           tagged values as {"$tag": n, "value": v}.
 */
import com.fasterxml.jackson.core.*;
import com.fasterxml.jackson.dataformat.cbor.*;
import java.io.*;
import java.util.Base64;

public class JacksonCbor {
    public static void main(String[] args) throws Exception {
        CBORFactory cbor = new CBORFactory();
        JsonFactory json = new JsonFactory();
        if (args[0].equals("encode")) {
            JsonParser in = json.createParser(System.in);
            CBORGenerator out = cbor.createGenerator(System.out);
            in.nextToken();
            copy(in, out);
            out.flush();
        } else {
            CBORParser in = cbor.createParser(System.in);
            JsonGenerator out = json.createGenerator(System.out);
            in.nextToken();
            dump(in, out);
            out.flush();
        }
    }

    static void copy(JsonParser in, CBORGenerator out) throws IOException {
        JsonToken t = in.currentToken();
        if (t == JsonToken.START_OBJECT) {
            in.nextToken();
            if (in.currentToken() == JsonToken.FIELD_NAME && in.getCurrentName().startsWith("$")) {
                String kind = in.getCurrentName();
                in.nextToken();
                if (kind.equals("$bytes")) out.writeBinary(Base64.getDecoder().decode(in.getText()));
                else { out.writeTag(1); out.writeNumber(in.getLongValue()); }
                in.nextToken();
                return;
            }
            out.writeStartObject();
            while (in.currentToken() == JsonToken.FIELD_NAME) {
                out.writeFieldName(in.getCurrentName());
                in.nextToken();
                copy(in, out);
                in.nextToken();
            }
            out.writeEndObject();
        } else if (t == JsonToken.START_ARRAY) {
            out.writeStartArray();
            while (in.nextToken() != JsonToken.END_ARRAY) copy(in, out);
            out.writeEndArray();
        } else if (t == JsonToken.VALUE_STRING) out.writeString(in.getText());
        else if (t == JsonToken.VALUE_NUMBER_INT) out.writeNumber(in.getLongValue());
        else if (t == JsonToken.VALUE_NUMBER_FLOAT) out.writeNumber(in.getDoubleValue());
        else if (t == JsonToken.VALUE_TRUE || t == JsonToken.VALUE_FALSE) out.writeBoolean(in.getBooleanValue());
        else out.writeNull();
    }

    static void dump(CBORParser in, JsonGenerator out) throws IOException {
        JsonToken t = in.currentToken();
        int tag = in.getCurrentTag();
        if (tag >= 0) { out.writeStartObject(); out.writeNumberField("$tag", tag); out.writeFieldName("value"); }
        if (t == JsonToken.START_OBJECT) {
            out.writeStartObject();
            while (in.nextToken() == JsonToken.FIELD_NAME) {
                out.writeFieldName(in.getCurrentName());
                in.nextToken();
                dump(in, out);
            }
            out.writeEndObject();
        } else if (t == JsonToken.START_ARRAY) {
            out.writeStartArray();
            while (in.nextToken() != JsonToken.END_ARRAY) dump(in, out);
            out.writeEndArray();
        } else if (t == JsonToken.VALUE_EMBEDDED_OBJECT) {
            out.writeStartObject();
            out.writeStringField("$bytes", Base64.getEncoder().encodeToString(in.getBinaryValue()));
            out.writeEndObject();
        } else if (t == JsonToken.VALUE_STRING) out.writeString(in.getText());
        else if (t == JsonToken.VALUE_NUMBER_INT) out.writeNumber(in.getLongValue());
        else if (t == JsonToken.VALUE_NUMBER_FLOAT) out.writeNumber(in.getDoubleValue());
        else if (t == JsonToken.VALUE_TRUE || t == JsonToken.VALUE_FALSE) out.writeBoolean(in.getBooleanValue());
        else out.writeNull();
        if (tag >= 0) out.writeEndObject();
    }
}
