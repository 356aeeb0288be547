package dev.carepath.hapi;

import ca.uhn.fhir.interceptor.api.Hook;
import ca.uhn.fhir.interceptor.api.Interceptor;
import ca.uhn.fhir.interceptor.api.Pointcut;
import ca.uhn.fhir.rest.api.RestOperationTypeEnum;
import ca.uhn.fhir.rest.api.server.RequestDetails;
import ca.uhn.fhir.rest.server.exceptions.BaseServerResponseException;
import ca.uhn.fhir.rest.server.exceptions.PreconditionFailedException;
import ca.uhn.fhir.rest.server.exceptions.ResourceVersionConflictException;
import java.util.EnumSet;
import java.util.Set;

/**
 * Answers a failed {@code If-Match} with {@code 412 Precondition Failed}, as the FHIR spec asks
 * ("If the version id given in the If-Match header does not match, the server returns a 412").
 *
 * <p>HAPI's JPA server reports a version mismatch on update as a {@link
 * ResourceVersionConflictException} (409). When the request carried an {@code If-Match} header
 * on a PUT, PATCH or DELETE of one resource, the conflict can only be that precondition (or a
 * concurrent write that changed the version meanwhile, which is the same thing for the client),
 * so the answer becomes a 412 with HAPI's own OperationOutcome. Everything else is left alone:
 * a 409 without {@code If-Match}, and entries inside transaction/batch bundles.
 */
@Interceptor
public class IfMatchPreconditionInterceptor {

	private static final Set<RestOperationTypeEnum> VERSIONED_WRITES =
			EnumSet.of(RestOperationTypeEnum.UPDATE, RestOperationTypeEnum.PATCH, RestOperationTypeEnum.DELETE);

	@Hook(Pointcut.SERVER_PRE_PROCESS_OUTGOING_EXCEPTION)
	public BaseServerResponseException toPreconditionFailed(RequestDetails request, Throwable thrown) {
		if (!(thrown instanceof ResourceVersionConflictException conflict) || request == null) {
			return null;
		}
		String ifMatch = request.getHeader("If-Match");
		if (ifMatch == null || ifMatch.isBlank() || !VERSIONED_WRITES.contains(request.getRestOperationType())) {
			return null;
		}
		PreconditionFailedException failed =
				new PreconditionFailedException(conflict.getMessage(), conflict.getOperationOutcome());
		failed.initCause(conflict);
		return failed;
	}
}
