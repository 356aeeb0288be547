package dev.carepath.hapi;

import ca.uhn.fhir.batch2.jobs.config.Batch2JobsConfig;
import ca.uhn.fhir.batch2.jobs.export.BulkDataExportProvider;
import ca.uhn.fhir.context.FhirContext;
import ca.uhn.fhir.context.support.IValidationSupport;
import ca.uhn.fhir.jpa.api.config.JpaStorageSettings;
import ca.uhn.fhir.jpa.api.config.ThreadPoolFactoryConfig;
import ca.uhn.fhir.jpa.api.dao.IFhirSystemDao;
import ca.uhn.fhir.jpa.batch2.JpaBatch2Config;
import ca.uhn.fhir.jpa.config.HapiJpaConfig;
import ca.uhn.fhir.jpa.config.r4.JpaR4Config;
import ca.uhn.fhir.jpa.config.util.HapiEntityManagerFactoryUtil;
import ca.uhn.fhir.jpa.model.config.PartitionSettings;
import ca.uhn.fhir.jpa.model.dialect.HapiFhirH2Dialect;
import ca.uhn.fhir.jpa.model.entity.StorageSettings;
import ca.uhn.fhir.jpa.provider.JpaCapabilityStatementProvider;
import ca.uhn.fhir.jpa.provider.JpaSystemProvider;
import ca.uhn.fhir.jpa.provider.ValueSetOperationProvider;
import ca.uhn.fhir.jpa.search.DatabaseBackedPagingProvider;
import ca.uhn.fhir.jpa.subscription.channel.config.SubscriptionChannelConfig;
import ca.uhn.fhir.rest.api.EncodingEnum;
import ca.uhn.fhir.rest.server.IncomingRequestAddressStrategy;
import ca.uhn.fhir.rest.server.RestfulServer;
import ca.uhn.fhir.rest.server.interceptor.CorsInterceptor;
import ca.uhn.fhir.rest.server.interceptor.LoggingInterceptor;
import ca.uhn.fhir.rest.server.interceptor.ResponseHighlighterInterceptor;
import ca.uhn.fhir.rest.server.provider.ResourceProviderFactory;
import ca.uhn.fhir.rest.server.util.ISearchParamRegistry;
import com.zaxxer.hikari.HikariDataSource;
import jakarta.persistence.EntityManagerFactory;
import java.util.List;
import java.util.Properties;
import javax.sql.DataSource;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.beans.factory.config.ConfigurableListableBeanFactory;
import org.springframework.boot.web.servlet.ServletRegistrationBean;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.context.annotation.Import;
import org.springframework.context.annotation.Primary;
import org.springframework.orm.jpa.JpaTransactionManager;
import org.springframework.orm.jpa.LocalContainerEntityManagerFactoryBean;
import org.springframework.transaction.annotation.EnableTransactionManagement;
import org.springframework.web.cors.CorsConfiguration;

/**
 * Wires HAPI's JPA server for FHIR R4 the way the public HAPI sandbox ({@code hapiproject/hapi}
 * image) is set up, minus full-text indexing and subscriptions.
 *
 * <p>HAPI's configuration classes provide the DAOs, resource providers, search, terminology,
 * validation support chain and batch jobs. This class supplies what HAPI leaves to the
 * application: storage settings, partition settings, the data source, the JPA entity manager
 * factory and transaction manager, and the {@link RestfulServer} servlet at {@code /fhir}.
 */
@Configuration
@EnableTransactionManagement
@Import({
	JpaR4Config.class,
	HapiJpaConfig.class,
	JpaBatch2Config.class,
	Batch2JobsConfig.class,
	ThreadPoolFactoryConfig.class,
	// In-JVM message channels (LinkedBlockingQueue). Batch2 jobs (reindex, $expunge ...) send
	// their work notifications over them. This is not the subscription machinery: neither the
	// subscription submitter nor the matcher is configured, so subscriptions stay off.
	SubscriptionChannelConfig.class
})
public class FhirServerConfig {

	private static final Logger log = LoggerFactory.getLogger(FhirServerConfig.class);

	/** Storage and search behaviour of the JPA server. */
	@Bean
	public JpaStorageSettings jpaStorageSettings() {
		JpaStorageSettings settings = new JpaStorageSettings();
		// Client-assigned ids: any id that is not purely numeric (PUT Patient/my-own-id);
		// server-assigned ids stay sequential numbers, as on the public sandbox.
		settings.setResourceClientIdStrategy(JpaStorageSettings.ClientIdStrategyEnum.ALPHANUMERIC);
		settings.setResourceServerIdStrategy(JpaStorageSettings.IdStrategyEnum.SEQUENTIAL_NUMERIC);
		// References to absolute URLs on other servers are kept as they are.
		settings.setAllowExternalReferences(true);
		// Every search runs against the database: never answer from a previous search's cache.
		settings.setReuseCachedSearchResultsForMillis(null);
		// As in the hapiproject/hapi image: :contains string searches and _filter allowed.
		settings.setAllowContainsSearches(true);
		settings.setFilterParameterEnabled(true);
		settings.setAllowMultipleDelete(true);
		settings.setExpungeEnabled(true);
		settings.setDeleteExpungeEnabled(true);
		// Hibernate Search (Lucene / Elasticsearch) is not used.
		settings.setAdvancedHSearchIndexing(false);
		settings.setHibernateSearchIndexFullText(false);
		settings.setStoreResourceInHSearchIndex(false);
		settings.setIndexMissingFields(StorageSettings.IndexEnabledEnum.DISABLED);
		settings.setAutoCreatePlaceholderReferenceTargets(false);
		// ValueSet/$expand serves the guideline packs' value sets (carepath pack publish); the largest
		// published one a pack uses (VSAC Pregnancy) holds 1,820 codes, above HAPI's default of 1,000.
		settings.setMaximumExpansionSize(20_000);
		// FHIR Bulk Data $export (system, Patient and Group level; carepath cohort export). Each kick-off
		// runs a new job: reusing an earlier job's files would hide resources loaded since.
		settings.setEnableTaskBulkExportJobExecution(true);
		settings.setEnableBulkExportJobReuse(false);
		return settings;
	}

	/** No partitioning (one default partition). */
	@Bean
	public PartitionSettings partitionSettings() {
		return new PartitionSettings();
	}

	@Bean(destroyMethod = "close")
	public HikariDataSource dataSource(ServerSettings serverSettings) {
		HikariDataSource ds = new HikariDataSource();
		ds.setPoolName("hapi-h2");
		ds.setDriverClassName("org.h2.Driver");
		ds.setJdbcUrl(serverSettings.jdbcUrl());
		ds.setUsername("sa");
		ds.setPassword("");
		// HAPI can hold more than one connection per request (searches, nested transactions).
		ds.setMaximumPoolSize(20);
		log.info("carepath HAPI database: {} ({})", serverSettings.describeDatabase(), serverSettings.jdbcUrl());
		return ds;
	}

	@Bean
	@Primary
	public LocalContainerEntityManagerFactoryBean entityManagerFactory(
			DataSource dataSource,
			ConfigurableListableBeanFactory beanFactory,
			FhirContext fhirContext,
			JpaStorageSettings storageSettings) {
		LocalContainerEntityManagerFactoryBean factory =
				HapiEntityManagerFactoryUtil.newEntityManagerFactory(beanFactory, fhirContext, storageSettings);
		factory.setPersistenceUnitName("HAPI_PU");
		factory.setDataSource(dataSource);
		factory.setJpaProperties(hibernateProperties());
		return factory;
	}

	private static Properties hibernateProperties() {
		Properties p = new Properties();
		p.put("hibernate.dialect", HapiFhirH2Dialect.class.getName());
		// Create the schema on first start, keep it afterwards.
		p.put("hibernate.hbm2ddl.auto", "update");
		p.put("hibernate.format_sql", "false");
		p.put("hibernate.show_sql", "false");
		p.put("hibernate.jdbc.batch_size", "20");
		p.put("hibernate.cache.use_query_cache", "false");
		p.put("hibernate.cache.use_second_level_cache", "false");
		p.put("hibernate.cache.use_structured_entries", "false");
		p.put("hibernate.cache.use_minimal_puts", "false");
		// No full-text indexing: no Lucene directory, no Elasticsearch.
		p.put("hibernate.search.enabled", "false");
		return p;
	}

	@Bean
	@Primary
	public JpaTransactionManager transactionManager(EntityManagerFactory entityManagerFactory) {
		JpaTransactionManager tm = new JpaTransactionManager();
		tm.setEntityManagerFactory(entityManagerFactory);
		return tm;
	}

	/** CORS for browser clients (SMART apps): all origins, the headers FHIR clients send. */
	@Bean
	public CorsInterceptor corsInterceptor() {
		CorsConfiguration cors = new CorsConfiguration();
		cors.addAllowedOriginPattern("*");
		cors.setAllowCredentials(true);
		for (String header : List.of(
				"Origin",
				"Accept",
				"Content-Type",
				"Authorization",
				"Cache-Control",
				"X-Requested-With",
				"X-Request-Id",
				"Prefer",
				"If-Match",
				"If-None-Match",
				"If-None-Exist",
				"If-Modified-Since")) {
			cors.addAllowedHeader(header);
		}
		for (String header : List.of("ETag", "Location", "Content-Location", "Last-Modified", "X-Request-Id")) {
			cors.addExposedHeader(header);
		}
		cors.setAllowedMethods(List.of("GET", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "HEAD"));
		cors.setMaxAge(3600L);
		return new CorsInterceptor(cors);
	}

	@Bean
	public RestfulServer restfulServer(
			IFhirSystemDao<?, ?> systemDao,
			ResourceProviderFactory resourceProviderFactory,
			JpaSystemProvider<?, ?> systemProvider,
			ValueSetOperationProvider valueSetOperationProvider,
			JpaStorageSettings storageSettings,
			ISearchParamRegistry searchParamRegistry,
			IValidationSupport validationSupport,
			DatabaseBackedPagingProvider pagingProvider,
			BulkDataExportProvider bulkDataExportProvider,
			CorsInterceptor corsInterceptor,
			ServerSettings serverSettings) {
		RestfulServer server = new RestfulServer(systemDao.getContext());
		server.setServerName("carepath local HAPI FHIR JPA server");

		// One JPA resource provider per R4 resource type (CRUD, search, history, $validate ...),
		// plus the system level: transaction / batch bundles, history, $expunge ...
		server.registerProviders(resourceProviderFactory.createProviders());
		server.registerProvider(systemProvider);
		server.registerProvider(valueSetOperationProvider);
		// $export and its status endpoint ($export-poll-status); the files are Binary resources.
		server.registerProvider(bulkDataExportProvider);

		server.setServerConformanceProvider(new JpaCapabilityStatementProvider(
				server, systemDao, storageSettings, searchParamRegistry, validationSupport));

		// Search results are paged from the database; next links point back at this server.
		pagingProvider.setDefaultPageSize(serverSettings.defaultPageSize());
		pagingProvider.setMaximumPageSize(serverSettings.maxPageSize());
		server.setPagingProvider(pagingProvider);
		server.setServerAddressStrategy(new IncomingRequestAddressStrategy());

		server.setDefaultResponseEncoding(EncodingEnum.JSON);
		server.setDefaultPrettyPrint(true);

		server.registerInterceptor(corsInterceptor);
		server.registerInterceptor(new IfMatchPreconditionInterceptor());
		server.registerInterceptor(new ResponseHighlighterInterceptor());
		LoggingInterceptor access = new LoggingInterceptor();
		access.setLoggerName("carepath.hapi.access");
		access.setMessageFormat(
				"${requestVerb} ${requestUrl} ${operationType} ${processingTimeMillis}ms");
		access.setErrorMessageFormat("ERROR ${requestVerb} ${requestUrl} ${exceptionMessage}");
		access.setLogExceptions(true);
		server.registerInterceptor(access);
		return server;
	}

	@Bean
	public ServletRegistrationBean<RestfulServer> fhirServlet(RestfulServer restfulServer) {
		ServletRegistrationBean<RestfulServer> registration = new ServletRegistrationBean<>(restfulServer, "/fhir/*");
		registration.setName("fhir");
		registration.setLoadOnStartup(1);
		return registration;
	}
}
