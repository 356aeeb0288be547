package dev.carepath.hapi;

import org.springframework.boot.SpringApplication;
import org.springframework.boot.SpringBootConfiguration;
import org.springframework.boot.autoconfigure.ImportAutoConfiguration;
import org.springframework.boot.autoconfigure.context.LifecycleAutoConfiguration;
import org.springframework.boot.autoconfigure.context.PropertyPlaceholderAutoConfiguration;
import org.springframework.boot.autoconfigure.web.embedded.EmbeddedWebServerFactoryCustomizerAutoConfiguration;
import org.springframework.boot.autoconfigure.web.servlet.ServletWebServerFactoryAutoConfiguration;
import org.springframework.context.annotation.ComponentScan;

/**
 * carepath's local FHIR R4 server: the HAPI FHIR JPA server (RestfulServer with the JPA resource
 * providers and DAOs, Hibernate on H2) in a small Spring Boot application.
 *
 * <p>Only the embedded servlet container is auto-configured. HAPI's jars bring many libraries that
 * Spring Boot would otherwise auto-configure on sight (Flyway, a second Quartz scheduler, Spring
 * MVC, springdoc, ...); none of them is needed, so full auto-configuration is not enabled.
 * Everything FHIR and JPA is wired by {@link FhirServerConfig} and HAPI's own configuration.
 */
@SpringBootConfiguration
@ImportAutoConfiguration({
	PropertyPlaceholderAutoConfiguration.class,
	LifecycleAutoConfiguration.class,
	ServletWebServerFactoryAutoConfiguration.class,
	EmbeddedWebServerFactoryCustomizerAutoConfiguration.class
})
@ComponentScan(basePackageClasses = CarepathHapiApplication.class)
public class CarepathHapiApplication {

	public static void main(String[] args) {
		SpringApplication.run(CarepathHapiApplication.class, args);
	}
}
