// The reason for an access: HL7's PurposeOfUse value set (every code under PurposeOfUse in
// CodeSystem v3-ActReason, as FHIR R4 publishes it), with HL7's display and the words a patient
// reads. Shared by the API, FHIR, the import and the views (docs/decisions/019-purpose-of-use.md).

export const PURPOSE_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-ActReason";

type Purpose = { display: string; words: string };

const purpose = (display: string, words: string): Purpose => ({ display, words });

export const PURPOSES = {
  TREAT: purpose("treatment", "Treatment"),
  CLINTRL: purpose("clinical trial", "Treatment in a clinical trial"),
  COC: purpose("coordination of care", "Coordinating your care"),
  ETREAT: purpose("Emergency Treatment", "Emergency treatment"),
  BTG: purpose("break the glass", "Emergency access (break the glass)"),
  ERTREAT: purpose("emergency room treatment", "Emergency room treatment"),
  POPHLTH: purpose("population health", "Population health"),
  HPAYMT: purpose("healthcare payment", "Payment for care"),
  CLMATTCH: purpose("claim attachment", "Insurance claim attachment"),
  COVAUTH: purpose("coverage authorization", "Insurance coverage authorization"),
  COVERAGE: purpose("coverage under policy or program", "Insurance coverage"),
  ELIGDTRM: purpose("eligibility determination", "Checking eligibility for coverage"),
  ELIGVER: purpose("eligibility verification", "Verifying eligibility for coverage"),
  ENROLLM: purpose("enrollment", "Enrolment in a health plan"),
  MILDCRG: purpose("military discharge", "Military discharge"),
  REMITADV: purpose("remittance advice", "Payment remittance"),
  HOPERAT: purpose("healthcare operations", "Running the healthcare service"),
  CAREMGT: purpose("care management", "Care management"),
  DONAT: purpose("donation", "Organ or tissue donation"),
  FRAUD: purpose("fraud", "Fraud investigation"),
  GOV: purpose("government", "Government purposes"),
  HACCRED: purpose("health accreditation", "Accreditation of the healthcare service"),
  HCOMPL: purpose("health compliance", "Compliance review"),
  HDECD: purpose("decedent", "Matters after a death"),
  HDIRECT: purpose("directory", "Patient directory"),
  HDM: purpose("healthcare delivery management", "Managing healthcare delivery"),
  HLEGAL: purpose("legal", "Legal purposes"),
  HOUTCOMS: purpose("health outcome measure", "Measuring health outcomes"),
  HPRGRP: purpose("health program reporting", "Health programme reporting"),
  HQUALIMP: purpose("health quality improvement", "Quality improvement"),
  HSYSADMIN: purpose("health system administration", "System administration"),
  LABELING: purpose("labeling", "Labelling the record"),
  METAMGT: purpose("metadata management", "Managing record metadata"),
  MEMADMIN: purpose("member administration", "Health plan member administration"),
  MILCDM: purpose("military command", "Military command"),
  PATADMIN: purpose("patient administration", "Patient administration"),
  PATSFTY: purpose("patient safety", "Patient safety"),
  PERFMSR: purpose("performance measure", "Performance measurement"),
  RECORDMGT: purpose("records management", "Records management"),
  SYSDEV: purpose("system development", "System development"),
  HTEST: purpose("test health data", "Testing with health data"),
  TRAIN: purpose("training", "Training"),
  HRESCH: purpose("healthcare research", "Research"),
  BIORCH: purpose("biomedical research", "Biomedical research"),
  CLINTRCH: purpose("clinical trial research", "Clinical trial research"),
  CLINTRCHNPC: purpose(
    "clinical trial research without patient care",
    "Clinical trial research (without care)",
  ),
  CLINTRCHPC: purpose(
    "clinical trial research with patient care",
    "Clinical trial research (with care)",
  ),
  PRECLINTRCH: purpose("preclinical trial research", "Preclinical research"),
  DSRCH: purpose("disease specific healthcare research", "Research on a disease"),
  POARCH: purpose(
    "population origins or ancestry healthcare research",
    "Population or ancestry research",
  ),
  TRANSRCH: purpose("translational healthcare research", "Translational research"),
  HMARKT: purpose("healthcare marketing", "Marketing"),
  PATRQT: purpose("patient requested", "At your request"),
  FAMRQT: purpose("family requested", "At your family's request"),
  PWATRNY: purpose("power of attorney", "At the request of your power of attorney"),
  SUPNWK: purpose("support network", "At the request of your support network"),
  PUBHLTH: purpose("public health", "Public health"),
  DISASTER: purpose("disaster", "Disaster response"),
  THREAT: purpose("threat", "Responding to a threat"),
} as const satisfies Record<string, Purpose>;

export type PurposeCode = keyof typeof PURPOSES;
export const PURPOSE_CODES = Object.keys(PURPOSES) as PurposeCode[];

/** Emergency accesses ("break the glass"): they stand out to patients and are flagged to auditors. */
export const EMERGENCY_PURPOSES = ["ETREAT", "BTG", "ERTREAT"] as const satisfies PurposeCode[];

export const NOT_GIVEN = "Not given";

/** The error for a code outside the table, naming a few that are in it. */
export const UNKNOWN_PURPOSE_ERROR =
  "must be a code of HL7's PurposeOfUse value set (v3-ActReason), such as TREAT, ETREAT, BTG, HPAYMT, HOPERAT, HRESCH, PUBHLTH or PATRQT";

export function isPurposeCode(code: string): code is PurposeCode {
  return Object.hasOwn(PURPOSES, code);
}

/** What a patient reads for a purpose: its words, or "Not given" when the source gave none. */
export function purposeWords(code: string | null): string {
  if (code === null) return NOT_GIVEN;
  return isPurposeCode(code) ? PURPOSES[code].words : code;
}

export function isEmergency(code: string | null): boolean {
  return (EMERGENCY_PURPOSES as readonly string[]).includes(code ?? "");
}
