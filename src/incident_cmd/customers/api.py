import io
from typing import Annotated

from fastapi import APIRouter, File, Query, UploadFile

from incident_cmd.auth.models import reads_contact_details
from incident_cmd.customers import service
from incident_cmd.customers.masking import masked_identity
from incident_cmd.customers.models import Customer
from incident_cmd.customers.schemas import ImportReport
from incident_cmd.deps import Communicator, CustomerReader, SessionDep
from incident_cmd.fields import DbId

router = APIRouter(prefix="/api/v1/customers", tags=["customers"])


@router.post("/import", response_model=ImportReport)
def import_customers(
    session: SessionDep,
    _: Communicator,
    file: Annotated[UploadFile, File(description="CSV, UTF-8, first line names the columns")],
) -> ImportReport:
    """Upserts customers and purchases; bad rows are listed, good rows kept."""
    text = io.TextIOWrapper(file.file, encoding="utf-8-sig", errors="strict", newline="")
    return service.import_csv(session, stream=text, after_chunk=lambda _: session.commit())


def _listed(customer: Customer, *, masked: bool) -> dict:
    listed = customer.model_dump(exclude={"created_at", "updated_at"})
    return listed | masked_identity(customer) if masked else listed


@router.get("")
def list_customers(
    session: SessionDep,
    reader: CustomerReader,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: DbId | None = None,
) -> dict:
    customers = list(service.iter_customers(session, limit=limit, after_id=cursor))
    masked = not reads_contact_details(reader)
    return {
        "items": [_listed(customer, masked=masked) for customer in customers],
        "next_cursor": customers[-1].id if len(customers) == limit else None,
    }
