package dev.carepath.hapi;

import org.springframework.boot.SpringApplication;
import org.springframework.boot.autoconfigure.SpringBootApplication;
import org.springframework.boot.autoconfigure.data.jpa.JpaRepositoriesAutoConfiguration;
import org.springframework.boot.autoconfigure.elasticsearch.ElasticsearchClientAutoConfiguration;
import org.springframework.boot.autoconfigure.elasticsearch.ElasticsearchRestClientAutoConfiguration;
import org.springframework.boot.autoconfigure.jdbc.DataSourceAutoConfiguration;
import org.springframework.boot.autoconfigure.orm.jpa.HibernateJpaAutoConfiguration;
import org.springframework.boot.autoconfigure.thymeleaf.ThymeleafAutoConfiguration;

/**
 * carepath's local FHIR R4 server: the HAPI FHIR JPA server (RestfulServer with the JPA
 * resource providers and DAOs, Hibernate on H2) in a small Spring Boot application.
 *
 * <p>Everything JPA related (data source, entity manager, transactions, Spring Data repositories)
 * is wired by {@link FhirServerConfig} and HAPI's own configuration classes, so the matching
 * Spring Boot auto-configurations are switched off to keep them from competing.
 */
@SpringBootApplication(
		exclude = {
			DataSourceAutoConfiguration.class,
			HibernateJpaAutoConfiguration.class,
			JpaRepositoriesAutoConfiguration.class,
			ElasticsearchClientAutoConfiguration.class,
			ElasticsearchRestClientAutoConfiguration.class,
			ThymeleafAutoConfiguration.class
		})
public class CarepathHapiApplication {

	public static void main(String[] args) {
		SpringApplication.run(CarepathHapiApplication.class, args);
	}
}
