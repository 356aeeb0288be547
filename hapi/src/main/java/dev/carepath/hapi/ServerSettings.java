package dev.carepath.hapi;

import java.nio.file.Path;
import java.nio.file.Paths;
import org.springframework.beans.factory.annotation.Value;
import org.springframework.stereotype.Component;

/**
 * The few knobs this server has, read from the environment (see application.properties).
 *
 * <ul>
 *   <li>{@code HAPI_DB}: {@code mem} for an in-memory H2 database, otherwise a directory that
 *       holds a file H2 database (relative paths resolve against the working directory; the
 *       scripts pass an absolute path, default {@code <repo>/var/hapi/db}).
 *   <li>{@code HAPI_PORT} / {@code HAPI_HOST}: where the HTTP server listens (Spring's {@code
 *       server.port} / {@code server.address}).
 * </ul>
 */
@Component
public class ServerSettings {

	/** The value of {@code HAPI_DB} that selects an in-memory database. */
	public static final String IN_MEMORY = "mem";

	private final String database;
	private final int defaultPageSize;
	private final int maxPageSize;

	public ServerSettings(
			@Value("${carepath.hapi.db:var/hapi/db}") String database,
			@Value("${carepath.hapi.default-page-size:20}") int defaultPageSize,
			@Value("${carepath.hapi.max-page-size:2147483647}") int maxPageSize) {
		this.database = database == null || database.isBlank() ? "var/hapi/db" : database.trim();
		this.defaultPageSize = defaultPageSize;
		this.maxPageSize = maxPageSize;
	}

	public boolean isInMemory() {
		return IN_MEMORY.equalsIgnoreCase(database);
	}

	/** Directory of the file database (only meaningful when not in memory). */
	public Path databaseDirectory() {
		return Paths.get(database).toAbsolutePath().normalize();
	}

	/** JDBC URL for H2, in memory or in a file under {@link #databaseDirectory()}. */
	public String jdbcUrl() {
		if (isInMemory()) {
			// DB_CLOSE_DELAY=-1 keeps the database for the whole life of the JVM, not of one connection
			return "jdbc:h2:mem:carepath-hapi;DB_CLOSE_DELAY=-1";
		}
		return "jdbc:h2:file:" + databaseDirectory().resolve("h2").toString().replace('\\', '/');
	}

	public String describeDatabase() {
		return isInMemory() ? "in-memory H2" : "file H2 in " + databaseDirectory();
	}

	public int defaultPageSize() {
		return defaultPageSize;
	}

	public int maxPageSize() {
		return maxPageSize;
	}
}
