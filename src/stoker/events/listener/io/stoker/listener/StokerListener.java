package io.stoker.listener;

import java.util.Arrays;
import java.util.List;
import java.util.Properties;

import org.apache.spark.SparkBuildInfo;
import org.apache.spark.SparkConf;
import org.apache.spark.SparkFirehoseListener;
import org.apache.spark.scheduler.SparkListenerApplicationEnd;
import org.apache.spark.scheduler.SparkListenerApplicationStart;
import org.apache.spark.scheduler.SparkListenerBlockUpdated;
import org.apache.spark.scheduler.SparkListenerEnvironmentUpdate;
import org.apache.spark.scheduler.SparkListenerEvent;
import org.apache.spark.scheduler.SparkListenerExecutorMetricsUpdate;
import org.apache.spark.scheduler.SparkListenerJobStart;
import org.apache.spark.scheduler.SparkListenerLogStart;
import org.apache.spark.scheduler.SparkListenerStageSubmitted;
import org.apache.spark.util.JsonProtocol;
import org.apache.spark.util.JsonProtocolOptions;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Streams a Spark application's listener events to Stoker's collector (POST {url}/collect).
 *
 * <p>It writes what Spark's own event log writes: the same events (block updates and executor
 * metric updates are left out unless the event log would keep them, events that opt out of logging
 * are skipped), serialised by Spark's JsonProtocol with the event log's options, and redacted the
 * same way ({@code spark.redaction.regex}), starting with the LogStart line that carries the Spark
 * version. Serialising happens on the listener thread, as for the event log; everything else (batching,
 * gzip, HTTP, retries) happens on a daemon sender thread behind a bounded buffer, so a slow or dead
 * collector costs Spark dropped events, never a blocked listener bus.
 *
 * <p>Configuration: {@code spark.stoker.url}, {@code spark.stoker.token} (or
 * {@code spark.stoker.tokenFile}, a file holding it, so the token is not on a command line),
 * {@code spark.stoker.jobName}
 * (default: the app name), {@code spark.stoker.runId} (default: the application id), and optionally
 * {@code spark.stoker.batchSize} (500), {@code spark.stoker.flushIntervalMs} (1000),
 * {@code spark.stoker.heartbeatIntervalMs} (10000), {@code spark.stoker.bufferSize} (20000),
 * {@code spark.stoker.flushTimeoutMs} (15000).
 */
public final class StokerListener extends SparkFirehoseListener {
  private static final Logger LOG = LoggerFactory.getLogger(StokerListener.class);

  private final SparkConf conf;
  private final JsonProtocolOptions jsonOptions;
  private final Redactor redactor;
  private final boolean logBlockUpdates;
  private final Sender sender;

  /** The token: given directly, or read from spark.stoker.tokenFile (a file only its owner reads). */
  private static String token(SparkConf conf) {
    String direct = conf.get("spark.stoker.token", "");
    String file = conf.get("spark.stoker.tokenFile", "");
    if (!direct.isEmpty() || file.isEmpty()) {
      return direct;
    }
    try {
      return java.nio.file.Files.readString(java.nio.file.Path.of(file)).trim();
    } catch (java.io.IOException e) {
      LOG.warn("Stoker listener cannot read spark.stoker.tokenFile {}: {}", file, e.toString());
      return "";
    }
  }

  public StokerListener(SparkConf conf) {
    this.conf = conf;
    this.jsonOptions = new JsonProtocolOptions(conf);
    this.redactor = new Redactor(conf);
    this.logBlockUpdates = conf.getBoolean("spark.eventLog.logBlockUpdates.enabled", false);
    String url = conf.get("spark.stoker.url", "");
    if (url.isEmpty()) {
      throw new IllegalArgumentException("StokerListener needs spark.stoker.url");
    }
    String runId = conf.get("spark.stoker.runId", conf.get("spark.app.id", ""));
    // One base URL, or several API replicas separated by commas (the sender fails over).
    List<String> collectors = Arrays.stream(url.split(",")).map(String::trim).filter(u -> !u.isEmpty())
        .map(u -> u.replaceAll("/+$", "") + "/collect").toList();
    this.sender = new Sender(
        collectors,
        token(conf),
        conf.get("spark.stoker.jobName", conf.get("spark.app.name", "spark-app")),
        runId.isEmpty() ? null : runId,
        conf.getInt("spark.stoker.batchSize", 500),
        conf.getLong("spark.stoker.flushIntervalMs", 1000L),
        conf.getLong("spark.stoker.heartbeatIntervalMs", 10_000L),
        conf.getInt("spark.stoker.bufferSize", 20_000),
        conf.getLong("spark.stoker.flushTimeoutMs", 15_000L));
    // The event log's first line: it is how a reader learns the Spark version.
    enqueue(new SparkListenerLogStart(SparkBuildInfo.spark_version()));
    sender.start();
    Runtime.getRuntime().addShutdownHook(new Thread(sender::close, "stoker-listener-shutdown"));
  }

  @Override
  public void onEvent(SparkListenerEvent event) {
    try {
      SparkListenerEvent logged = forEventLog(event);
      if (logged == null) {
        return;
      }
      if (logged instanceof SparkListenerApplicationStart start && start.appId().isDefined()) {
        sender.defaultRunId(start.appId().get());
      }
      enqueue(logged);
      if (logged instanceof SparkListenerApplicationEnd) {
        // The app is ending: deliver everything before Spark stops and the JVM may exit.
        sender.close();
      }
    } catch (RuntimeException e) {
      LOG.warn("Stoker listener could not handle {}: {}", event.getClass().getSimpleName(), e.toString());
    }
  }

  /** The event as Spark's event log would write it (redacted), or null when it would skip it. */
  private SparkListenerEvent forEventLog(SparkListenerEvent event) {
    if (event instanceof SparkListenerExecutorMetricsUpdate) {
      return null;
    }
    if (event instanceof SparkListenerBlockUpdated) {
      return logBlockUpdates ? event : null;
    }
    if (!event.logEvent()) {
      return null;
    }
    if (event instanceof SparkListenerEnvironmentUpdate env) {
      return redactor.environment(env);
    }
    if (event instanceof SparkListenerJobStart job) {
      Properties props = redactor.properties(job.properties());
      return new SparkListenerJobStart(job.jobId(), job.time(), job.stageInfos(), props);
    }
    if (event instanceof SparkListenerStageSubmitted stage) {
      return new SparkListenerStageSubmitted(stage.stageInfo(), redactor.properties(stage.properties()));
    }
    return event;
  }

  private void enqueue(SparkListenerEvent event) {
    long now = System.currentTimeMillis();
    sender.offer(now, JsonProtocol.sparkEventToJsonString(event, jsonOptions));
  }
}
