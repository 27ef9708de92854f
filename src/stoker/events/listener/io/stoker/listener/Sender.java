package io.stoker.listener;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.zip.GZIPOutputStream;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Batches events into collector payloads and posts them, in order, from one daemon thread.
 *
 * <p>A payload gets its counters when it is built and keeps them through every retry, so the
 * collector can recognise a payload it already stored (its answer was lost) and store it once.
 * Retries back off exponentially and never reorder: later events wait in the bounded buffer, and
 * when that is full new events are dropped and counted rather than blocking Spark.
 *
 * <p>Several collectors (API replicas behind no balancer) may be given: a payload that cannot
 * reach the current one goes to the next, and the sender stays there. The replicas share one
 * database, so a payload stored by one and sent again to another is still stored once.
 */
final class Sender implements Runnable {
  private static final Logger LOG = LoggerFactory.getLogger(Sender.class);

  record Message(long generatedAt, String content) {}

  private final List<URI> uris;
  private int current; // the collector payloads go to; only the sender thread moves it
  private final String token;
  private final String jobName;
  private volatile String runId;
  private final int batchSize;
  private final long flushIntervalMs;
  private final long heartbeatIntervalMs;
  private final long flushTimeoutMs;
  private final ArrayBlockingQueue<Message> buffer;
  private final HttpClient http;
  private final Thread thread;
  private final AtomicLong dropped = new AtomicLong();
  private final Object idle = new Object();

  private long payloadCounter;
  private long messageCounter;
  private long lastHeartbeat = System.currentTimeMillis();
  private volatile boolean closing;
  private volatile long closeDeadline = Long.MAX_VALUE;

  Sender(List<String> urls, String token, String jobName, String runId, int batchSize, long flushIntervalMs,
         long heartbeatIntervalMs, int bufferSize, long flushTimeoutMs) {
    this.uris = urls.stream().map(URI::create).toList();
    if (uris.isEmpty()) {
      throw new IllegalArgumentException("Stoker listener: no collector URL");
    }
    this.token = token;
    this.jobName = jobName;
    this.runId = runId;
    this.batchSize = Math.max(1, batchSize);
    this.flushIntervalMs = flushIntervalMs;
    this.heartbeatIntervalMs = heartbeatIntervalMs;
    this.flushTimeoutMs = flushTimeoutMs;
    this.buffer = new ArrayBlockingQueue<>(Math.max(16, bufferSize));
    // HTTP/1.1: the default (HTTP/2 by h2c upgrade) is refused by plain HTTP/1.1 servers such as uvicorn.
    this.http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
        .connectTimeout(Duration.ofSeconds(5)).build();
    this.thread = new Thread(this, "stoker-listener-sender");
    this.thread.setDaemon(true);
  }

  void start() {
    thread.start();
  }

  /** Used when spark.stoker.runId and spark.app.id were both unset: the ApplicationStart's id. */
  void defaultRunId(String appId) {
    if (runId == null) {
      runId = appId;
    }
  }

  /** Never blocks: a full buffer drops the event and counts it. */
  void offer(long generatedAt, String content) {
    if (!buffer.offer(new Message(generatedAt, content))) {
      if (dropped.incrementAndGet() % 1000 == 1) {
        LOG.warn("Stoker listener buffer is full: {} events dropped so far", dropped.get());
      }
    }
  }

  /** Flush what is buffered (waiting at most spark.stoker.flushTimeoutMs), then stop. Idempotent. */
  void close() {
    synchronized (this) {
      if (!closing) {
        closeDeadline = System.currentTimeMillis() + flushTimeoutMs;
        closing = true;
      }
    }
    thread.interrupt();
    try {
      thread.join(Math.max(1, closeDeadline - System.currentTimeMillis() + 1000));
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  @Override
  public void run() {
    List<Message> batch = new ArrayList<>(batchSize);
    while (true) {
      try {
        // Events already moved into `batch` (a close() can interrupt gather() midway) still go out.
        if (closing && buffer.isEmpty() && batch.isEmpty()) {
          return;
        }
        gather(batch);
        boolean heartbeat = System.currentTimeMillis() - lastHeartbeat >= heartbeatIntervalMs;
        if (runId == null) {
          Thread.sleep(50); // no run id before the application starts: the events wait
          continue;
        }
        if (batch.isEmpty() && !heartbeat) {
          continue;
        }
        byte[] body = payload(batch, heartbeat);
        batch.clear();
        deliver(body);
      } catch (InterruptedException e) {
        // close() interrupts waits so the final flush starts at once; the loop checks `closing`.
      } catch (RuntimeException | IOException e) {
        LOG.warn("Stoker listener failed to build a payload: {}", e.toString());
        batch.clear();
      }
      if (closing && System.currentTimeMillis() > closeDeadline) {
        LOG.warn("Stoker listener stops with {} events undelivered", buffer.size() + batch.size());
        return;
      }
    }
  }

  /** Fill the batch: up to batchSize events, waiting at most flushIntervalMs after the first one. */
  private void gather(List<Message> batch) throws InterruptedException {
    long until = System.currentTimeMillis() + (batch.isEmpty() ? heartbeatWait() : flushIntervalMs);
    while (batch.size() < batchSize) {
      boolean wasEmpty = batch.isEmpty();
      buffer.drainTo(batch, batchSize - batch.size());
      if (wasEmpty && !batch.isEmpty()) {
        // Events were waiting (they came in while the last payload was being sent): they leave
        // within the flush interval, not at the next heartbeat.
        until = Math.min(until, System.currentTimeMillis() + flushIntervalMs);
      }
      long wait = until - System.currentTimeMillis();
      if (batch.size() >= batchSize || closing || wait <= 0) {
        return;
      }
      Message next = buffer.poll(Math.min(wait, 100), TimeUnit.MILLISECONDS);
      if (next != null) {
        if (batch.isEmpty()) {
          until = Math.min(until, System.currentTimeMillis() + flushIntervalMs);
        }
        batch.add(next);
      }
    }
  }

  private long heartbeatWait() {
    return Math.max(1, lastHeartbeat + heartbeatIntervalMs - System.currentTimeMillis());
  }

  private byte[] payload(List<Message> batch, boolean heartbeat) throws IOException {
    long now = System.currentTimeMillis();
    int messages = batch.size() + (heartbeat ? 1 : 0);
    payloadCounter += 1;
    messageCounter += messages;
    StringBuilder json = new StringBuilder(64 + batch.size() * 2048);
    json.append("{\"job_name\":");
    Json.string(json, jobName);
    json.append(",\"run_id\":");
    Json.string(json, runId);
    json.append(",\"sent_at\":").append(now)
        .append(",\"counters\":{\"message_counter\":").append(messageCounter)
        .append(",\"payload_counter\":").append(payloadCounter)
        .append("},\"dropped_events\":").append(dropped.get())
        .append(",\"messages\":[");
    for (int i = 0; i < batch.size(); i++) {
      Message m = batch.get(i);
      json.append(i == 0 ? "" : ",").append("{\"message_type\":\"spark-event\",\"generated_at\":")
          .append(m.generatedAt()).append(",\"content\":");
      Json.string(json, m.content());
      json.append('}');
    }
    if (heartbeat) {
      json.append(batch.isEmpty() ? "" : ",")
          .append("{\"message_type\":\"heartbeat\",\"generated_at\":").append(now).append('}');
      lastHeartbeat = now;
    }
    json.append("]}");
    ByteArrayOutputStream out = new ByteArrayOutputStream(json.length() / 8 + 64);
    try (GZIPOutputStream gzip = new GZIPOutputStream(out, 65536)) {
      gzip.write(json.toString().getBytes(StandardCharsets.UTF_8));
    }
    return out.toByteArray();
  }

  /** Post until accepted; retry transient failures with backoff, give up on a refused payload. */
  private void deliver(byte[] body) {
    long backoff = 200;
    while (true) {
      try {
        HttpRequest.Builder request = HttpRequest.newBuilder(uris.get(current))
            .timeout(Duration.ofSeconds(30))
            .header("Content-Type", "application/json")
            .header("Content-Encoding", "gzip")
            .POST(HttpRequest.BodyPublishers.ofByteArray(body));
        if (!token.isEmpty()) {
          request.header("Authorization", "Bearer " + token);
        }
        HttpResponse<String> response = http.send(request.build(), HttpResponse.BodyHandlers.ofString());
        int status = response.statusCode();
        if (status / 100 == 2) {
          return;
        }
        if (status / 100 == 4 && status != 408 && status != 429) {
          // Sending it again cannot help (bad token, refused payload): report it and move on.
          LOG.error("Stoker collector refused a payload ({}): {}", status, response.body());
          return;
        }
        LOG.warn("Stoker collector answered {}; retrying in {} ms", status, backoff);
      } catch (IOException e) {
        URI failed = uris.get(current);
        current = (current + 1) % uris.size();
        LOG.warn("Stoker collector {} unreachable ({}); retrying {} in {} ms", failed, e.toString(),
            uris.get(current), backoff);
      } catch (InterruptedException e) {
        // close() wakes us up: keep trying until its deadline.
      }
      if (closing && System.currentTimeMillis() + backoff > closeDeadline) {
        LOG.warn("Stoker listener gives up a payload at shutdown");
        return;
      }
      sleep(backoff);
      backoff = Math.min(backoff * 2, 10_000);
    }
  }

  private static void sleep(long ms) {
    try {
      Thread.sleep(ms);
    } catch (InterruptedException e) {
      // shutting down: the caller checks the deadline
    }
  }
}
