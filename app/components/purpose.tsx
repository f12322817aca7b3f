import { isEmergency, purposeWords } from "~/fhir/purpose-of-use";

/**
 * Why a record was accessed, in words. An emergency access ("break the glass") carries a badge
 * with its own text and a border, so it stands out without relying on colour.
 */
export function Purpose({ code }: { code: string | null }) {
  const words = purposeWords(code);
  if (!isEmergency(code)) return <span className={code ? undefined : "hint"}>{words}</span>;
  return (
    <>
      <strong className="badge badge-emergency">
        <span aria-hidden="true">⚠ </span>Emergency access
      </strong>
      <span className="block">{words}</span>
    </>
  );
}
