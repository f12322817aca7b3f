import { serve } from "./main";

const running = await serve(process.env);
console.log(`EHR audit trail listening on ${running.url}`);
