const COLORS: Record<string, string> = {
  read: "#1f5fbf",
  update: "#2a9d8f",
  create: "#6a4c93",
  query: "#8d99ae",
  print: "#e09f3e",
  copy: "#d1495b",
  delete: "#9e2a2b",
  export: "#577590",
  login: "#90be6d",
  logout: "#b5c99a",
  execute: "#4d908e",
  other: "#adb5bd",
};

type Day = { day: string; counts: Partial<Record<string, number>> };

const dayTotal = (d: Day) => Object.values(d.counts).reduce<number>((sum, n) => sum + (n ?? 0), 0);

/** Accesses per day, stacked by action: plain SVG rendered on the server, no script needed. */
export function AccessChart({ perDay }: { perDay: Day[] }) {
  const width = 840;
  const height = 260;
  const pad = { left: 40, right: 10, top: 10, bottom: 40 };
  const actions = Object.keys(COLORS).filter((a) => perDay.some((d) => d.counts[a]));
  const max = Math.max(1, ...perDay.map(dayTotal));
  const step = (width - pad.left - pad.right) / perDay.length;
  const barWidth = Math.max(2, step * 0.75);
  const y = (n: number) => ((height - pad.top - pad.bottom) * n) / max;
  const total = perDay.reduce((sum, d) => sum + dayTotal(d), 0);
  return (
    <figure className="chart">
      <svg
        viewBox={`0 0 ${width} ${height}`}
        role="img"
        aria-labelledby="chart-title"
        preserveAspectRatio="xMidYMid meet"
      >
        <title id="chart-title">
          {`Accesses per day by action, ${perDay[0]?.day} to ${perDay[perDay.length - 1]?.day}: ${total} in all`}
        </title>
        <line
          x1={pad.left}
          x2={width - pad.right}
          y1={height - pad.bottom}
          y2={height - pad.bottom}
          stroke="#8a94a3"
        />
        <text x={pad.left - 6} y={pad.top + 8} textAnchor="end" fontSize="11" fill="#5b6675">
          {max}
        </text>
        <text
          x={pad.left - 6}
          y={height - pad.bottom}
          textAnchor="end"
          fontSize="11"
          fill="#5b6675"
        >
          0
        </text>
        {perDay.map((d, i) => {
          let base = height - pad.bottom;
          const x = pad.left + i * step + (step - barWidth) / 2;
          return (
            <g key={d.day}>
              {actions.map((a) => {
                const n = d.counts[a] ?? 0;
                if (!n) return null;
                const h = y(n);
                base -= h;
                return (
                  <rect key={a} x={x} y={base} width={barWidth} height={h} fill={COLORS[a]}>
                    <title>{`${d.day}: ${n} ${a}`}</title>
                  </rect>
                );
              })}
              {i % 7 === 0 ? (
                <text
                  x={x + barWidth / 2}
                  y={height - pad.bottom + 16}
                  textAnchor="middle"
                  fontSize="11"
                  fill="#5b6675"
                >
                  {d.day.slice(5)}
                </text>
              ) : null}
            </g>
          );
        })}
      </svg>
      <figcaption>
        <ul className="legend">
          {actions.map((a) => (
            <li key={a}>
              <svg width="12" height="12" aria-hidden="true">
                <rect width="12" height="12" fill={COLORS[a]} />
              </svg>{" "}
              {a}
            </li>
          ))}
        </ul>
      </figcaption>
    </figure>
  );
}
