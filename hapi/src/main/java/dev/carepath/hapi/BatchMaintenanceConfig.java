package dev.carepath.hapi;

import ca.uhn.fhir.batch2.maintenance.JobMaintenanceServiceImpl;
import org.springframework.beans.factory.config.BeanPostProcessor;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;

/**
 * Runs HAPI's batch job maintenance pass every few seconds instead of once a minute.
 *
 * <p>A Bulk Data {@code $export} is a batch job of four gated steps, and each step only starts at a
 * maintenance pass: at HAPI's default of one pass a minute, exporting even a handful of patients takes
 * three to four minutes. A pass is one small query when no job is running.
 */
@Configuration
public class BatchMaintenanceConfig {

	/** Milliseconds between two maintenance passes. */
	static final long MAINTENANCE_INTERVAL_MILLIS = 1_000;

	/** Sets the interval before the scheduler registers the maintenance job (at context refresh). */
	@Bean
	public static BeanPostProcessor batchMaintenanceInterval() {
		return new BeanPostProcessor() {
			@Override
			public Object postProcessAfterInitialization(Object bean, String beanName) {
				if (bean instanceof JobMaintenanceServiceImpl maintenance) {
					maintenance.setScheduledJobFrequencyMillis(MAINTENANCE_INTERVAL_MILLIS);
				}
				return bean;
			}
		};
	}
}
