package io.stoker.listener;

import java.util.Properties;
import java.util.regex.Pattern;

import org.apache.spark.SparkConf;
import org.apache.spark.scheduler.EventLoggingListener$;
import org.apache.spark.scheduler.SparkListenerEnvironmentUpdate;

/**
 * Redaction as in Spark's event log, so credentials given to a run never leave the driver.
 *
 * <p>The environment update goes through the event log's own redaction ({@code redactEvent}), so both
 * agree line for line. Job and stage properties are redacted with the same rule (a key or a value
 * matching {@code spark.redaction.regex} gets its value replaced), applied to every property: a
 * little stricter than the event log, which only redacts properties that are Spark confs.
 */
final class Redactor {
  static final String REPLACEMENT = "*********(redacted)";
  private static final String DEFAULT_REGEX = "(?i)secret|password|token|access[.]?key";

  private final SparkConf conf;
  private final Pattern pattern;

  Redactor(SparkConf conf) {
    this.conf = conf;
    this.pattern = Pattern.compile(conf.get("spark.redaction.regex", DEFAULT_REGEX));
  }

  SparkListenerEnvironmentUpdate environment(SparkListenerEnvironmentUpdate event) {
    return EventLoggingListener$.MODULE$.redactEvent(conf, event);
  }

  Properties properties(Properties props) {
    if (props == null) {
      return null;
    }
    Properties out = new Properties();
    for (String key : props.stringPropertyNames()) {
      String value = props.getProperty(key);
      boolean secret = pattern.matcher(key).find() || (value != null && pattern.matcher(value).find());
      out.setProperty(key, secret ? REPLACEMENT : value);
    }
    return out;
  }
}
