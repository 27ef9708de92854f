// What the Delight agent (co.datamechanics:delight 1.0.x) does on the wire, with the same JDK
// classes and the same Apache HttpClient 4 calls as its source (common/Utils.compressString,
// dto/StreamingPayload.toJson's base64, common/Network.sendRequest), for tests/compat/test_delight.py.
// Compiled at test time with javac against pyspark's jars (httpclient, httpcore are among them).
//
//   java DelightWire encode <file>                  -> base64(gzip(file bytes)), as the agent's `data`
//   java DelightWire post <url> <token> <body-file> -> "<status> <message or ->", as sendRequest sees it
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.Base64;
import java.util.zip.GZIPOutputStream;

import org.apache.http.HttpResponse;
import org.apache.http.client.HttpClient;
import org.apache.http.client.methods.HttpPost;
import org.apache.http.entity.StringEntity;
import org.apache.http.impl.client.DefaultHttpClient;
import org.apache.http.util.EntityUtils;

public class DelightWire {
    // Utils.compressString, line for line.
    static byte[] compressString(String inputString) throws Exception {
        byte[] input = inputString.getBytes("UTF-8");
        ByteArrayOutputStream bos = new ByteArrayOutputStream(input.length);
        GZIPOutputStream gzip = new GZIPOutputStream(bos);
        gzip.write(input);
        gzip.close();
        byte[] compressed = bos.toByteArray();
        bos.close();
        return compressed;
    }

    @SuppressWarnings("deprecation")
    public static void main(String[] args) throws Exception {
        if (args[0].equals("encode")) {
            String data = new String(Files.readAllBytes(Paths.get(args[1])), StandardCharsets.UTF_8);
            System.out.print(Base64.getEncoder().encodeToString(compressString(data)));
            return;
        }
        // Network.sendRequest: a StringEntity of the compact JSON, the X-API-key header, a POST.
        String payloadAsString = new String(Files.readAllBytes(Paths.get(args[3])), StandardCharsets.UTF_8);
        HttpClient client = new DefaultHttpClient();
        StringEntity requestEntity = new StringEntity(payloadAsString);
        HttpPost postMethod = new HttpPost(args[1]);
        postMethod.setHeader("X-API-key", args[2]);
        postMethod.setEntity(requestEntity);
        HttpResponse httpResponse = client.execute(postMethod);
        String body = EntityUtils.toString(httpResponse.getEntity());
        int status = httpResponse.getStatusLine().getStatusCode();
        System.out.print(status + " " + body);
    }
}
