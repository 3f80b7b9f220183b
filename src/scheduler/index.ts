import type { RoleContext } from '../roles.js';

/** PLACEHOLDER (issue 3 replaces this file): declares the periodic jobs (beat/all roles). */
export async function startScheduler(_ctx: RoleContext): Promise<void> {}
