package io.hookbridge.example;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.avro.LogicalTypes;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericDatumReader;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.io.DecoderFactory;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.CooperativeStickyAssignor;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

/**
 * Reads a hookbridge .deduped topic and prints one JSON line per event.
 *
 * <p>It reads with isolation.level=read_committed (dedupe writes the .deduped topics in
 * transactions), in its own consumer group, and decodes the Confluent wire format itself:
 * Confluent's deserializer is not on Maven Central, and the format is small. A value is magic
 * byte 0, the writer schema's id (4 bytes, big-endian) and the Avro binary; the writer schema
 * is fetched from the registry by id once and cached. Offsets are committed after a batch is
 * printed, and only as far as printed (at-least-once): key your own writes by event_id.
 *
 * <pre>
 * java -cp target/classes:$(cat target/classpath.txt) io.hookbridge.example.Consumer \
 *   --bootstrap 127.0.0.1:9092 --registry http://127.0.0.1:8081 \
 *   --topic productagents.messages.v1.deduped --group my-team
 * </pre>
 */
public final class Consumer {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final DateTimeFormatter UTC_MILLIS =
      DateTimeFormatter.ofPattern("yyyy-MM-dd'T'HH:mm:ss.SSS'Z'").withZone(ZoneOffset.UTC);

  /** Writer schemas by id, fetched from the schema registry once each. */
  static final class SchemaCache {
    private final HttpClient http = HttpClient.newHttpClient();
    private final String registry;
    private final Map<Integer, Schema> byId = new ConcurrentHashMap<>();

    SchemaCache(String registry) {
      this.registry = registry.replaceAll("/+$", "");
    }

    Schema get(int id) throws IOException, InterruptedException {
      Schema s = byId.get(id);
      if (s != null) {
        return s;
      }
      HttpRequest req = HttpRequest.newBuilder(URI.create(registry + "/schemas/ids/" + id))
          .header("Accept", "application/vnd.schemaregistry.v1+json").build();
      HttpResponse<String> resp = http.send(req, HttpResponse.BodyHandlers.ofString());
      if (resp.statusCode() != 200) {
        throw new IOException("schema registry: schema id " + id + ": HTTP " + resp.statusCode() + " " + resp.body());
      }
      s = new Schema.Parser().parse(JSON.readTree(resp.body()).get("schema").asText());
      byId.put(id, s);
      return s;
    }
  }

  /** Decodes one value in the Confluent wire format. */
  static Object decode(SchemaCache schemas, byte[] value) throws IOException, InterruptedException {
    if (value == null || value.length < 5 || value[0] != 0) {
      throw new IOException("not in the Confluent wire format (magic byte 0, schema id, Avro)");
    }
    int id = ByteBuffer.wrap(value, 1, 4).getInt();
    Schema writer = schemas.get(id);
    GenericDatumReader<Object> reader = new GenericDatumReader<>(writer);
    Object record = reader.read(null, DecoderFactory.get().binaryDecoder(value, 5, value.length - 5, null));
    return plain(record, writer);
  }

  /** Turns Avro data into JSON-ready values: unions unwrapped, timestamps as RFC 3339 UTC. */
  static Object plain(Object v, Schema s) {
    switch (s.getType()) {
      case UNION:
        return plain(v, s.getTypes().get(GenericData.get().resolveUnion(s, v)));
      case RECORD:
        Map<String, Object> m = new LinkedHashMap<>();
        GenericRecord r = (GenericRecord) v;
        for (Schema.Field f : s.getFields()) {
          m.put(f.name(), plain(r.get(f.pos()), f.schema()));
        }
        return m;
      case ARRAY:
        List<Object> out = new ArrayList<>();
        for (Object item : (List<?>) v) {
          out.add(plain(item, s.getElementType()));
        }
        return out;
      case MAP:
        Map<String, Object> mm = new LinkedHashMap<>();
        ((Map<?, ?>) v).forEach((k, x) -> mm.put(k.toString(), plain(x, s.getValueType())));
        return mm;
      case LONG:
        if (s.getLogicalType() instanceof LogicalTypes.TimestampMillis) {
          return UTC_MILLIS.format(Instant.ofEpochMilli((Long) v));
        }
        return v;
      case STRING:
      case ENUM:
        return v.toString();
      case BYTES:
        ByteBuffer b = ((ByteBuffer) v).duplicate();
        byte[] raw = new byte[b.remaining()];
        b.get(raw);
        return Base64.getEncoder().encodeToString(raw);
      case NULL:
        return null;
      default:
        return v;
    }
  }

  private static Map<String, String> flags(String[] args) {
    Map<String, String> f = new HashMap<>();
    for (int i = 0; i + 1 < args.length; i += 2) {
      if (!args[i].startsWith("--")) {
        throw new IllegalArgumentException("expected --flag value, got " + args[i]);
      }
      f.put(args[i].substring(2), args[i + 1]);
    }
    for (String k : List.of("bootstrap", "registry", "topic", "group")) {
      if (!f.containsKey(k)) {
        throw new IllegalArgumentException("--" + k + " is required");
      }
    }
    return f;
  }

  public static void main(String[] args) throws Exception {
    Map<String, String> f = flags(args);
    int max = Integer.parseInt(f.getOrDefault("max", "0"));
    Properties p = new Properties();
    p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, f.get("bootstrap"));
    p.put(ConsumerConfig.GROUP_ID_CONFIG, f.get("group"));
    p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
    p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
    p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
    p.put(ConsumerConfig.PARTITION_ASSIGNMENT_STRATEGY_CONFIG, CooperativeStickyAssignor.class.getName());
    p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
    p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
    SchemaCache schemas = new SchemaCache(f.get("registry"));
    int printed = 0;
    Map<TopicPartition, OffsetAndMetadata> done = new HashMap<>();
    try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(p)) {
      consumer.subscribe(Arrays.asList(f.get("topic").split(",")));
      while (max == 0 || printed < max) {
        for (ConsumerRecord<byte[], byte[]> rec : consumer.poll(Duration.ofSeconds(1))) {
          if (max > 0 && printed >= max) {
            break; // not printed, so not committed: the next run prints it
          }
          Map<String, Object> line = new LinkedHashMap<>();
          line.put("topic", rec.topic());
          line.put("partition", rec.partition());
          line.put("offset", rec.offset());
          line.put("key", rec.key() == null ? null : new String(rec.key(), StandardCharsets.UTF_8));
          Map<String, String> headers = new LinkedHashMap<>();
          for (Header h : rec.headers()) {
            headers.put(h.key(), new String(h.value(), StandardCharsets.UTF_8));
          }
          line.put("headers", headers);
          line.put("value", decode(schemas, rec.value()));
          System.out.println(JSON.writeValueAsString(line));
          printed++;
          done.put(new TopicPartition(rec.topic(), rec.partition()), new OffsetAndMetadata(rec.offset() + 1));
        }
        System.out.flush();
        consumer.commitSync(done);
      }
    }
  }
}
