import type { EncryptedTotals } from "~/services/dashboard-totals.server";

const label = (dimension: string) => (dimension === "action" ? "action" : "part of the record");

/** Today's counters under the audit company's Paillier key: opened beside the plain counts in the demo, else sealed. */
export function EncryptedTotalsSection({
  totals,
}: {
  totals: Exclude<EncryptedTotals, { state: "compromised" }>;
}) {
  return (
    <section aria-labelledby="encrypted-totals-title">
      <h2 id="encrypted-totals-title">Encrypted totals (Paillier), today</h2>
      {totals.state === "off" ? (
        <p className="hint">
          Encrypted totals are off: the audit company&apos;s Paillier public key is not installed on
          this trail.
        </p>
      ) : totals.state === "sealed" ? (
        <p className="hint">
          The counters are encrypted under the audit company&apos;s key {totals.keyId.slice(0, 12)}{" "}
          and served at /api/aggregates; the totals are opened by the audit company.
        </p>
      ) : totals.state === "busy" ? (
        <p className="hint">Other counters are being encrypted right now: reload in a moment.</p>
      ) : totals.state === "empty" ? (
        <p className="hint">No encrypted totals: the trail holds no records yet.</p>
      ) : totals.state === "refused" ? (
        <p className="alert alert-error" role="alert">
          The encrypted counters could not be opened: {totals.problems.join("; ")}.
        </p>
      ) : (
        <>
          <p className={totals.match ? "verified" : "alert alert-error"} role="status">
            {totals.match
              ? `✓ Opened with the audit company's key ${totals.keyId.slice(0, 12)} (present in this demo): every decrypted total matches the plain count.`
              : "The decrypted totals do not match the plain counts."}
          </p>
          <div className="table-wrap">
            <table className="records compact">
              <thead>
                <tr>
                  <th scope="col">By</th>
                  <th scope="col">Value</th>
                  <th scope="col" className="numeric">
                    Plain count
                  </th>
                  <th scope="col" className="numeric">
                    Decrypted total
                  </th>
                </tr>
              </thead>
              <tbody>
                {totals.rows.map((r) => (
                  <tr key={`${r.dimension} ${r.key}`} data-totals-row={`${r.dimension} ${r.key}`}>
                    <td>{label(r.dimension)}</td>
                    <td>{r.key.replace(/_/g, " ")}</td>
                    <td className="numeric">{r.plain}</td>
                    <td className="numeric">{r.decrypted}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </>
      )}
    </section>
  );
}
